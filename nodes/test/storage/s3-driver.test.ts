import { withS3rver } from '../support/s3rver.js';
import { storageDriverSuite } from '../support/driver-suite.js';

describe('S3', function () {
  this.timeout(60_000);
  const s3rver = withS3rver();
  storageDriverSuite('S3BlobDriver over s3rver', () => s3rver.backend());
});
