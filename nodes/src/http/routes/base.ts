import { apiPattern } from 'georeg/oci';
import { needs } from '../../auth/access.js';
import type { Route } from '../router.js';

/** `GET /v2/`: the API version check every client starts with. */
export function baseRoute(): Route {
  return {
    name: 'base',
    pattern: apiPattern('base'),
    methods: {
      GET: {
        access: needs.authenticated,
        handler(ctx) {
          ctx.json(200, {}, { 'Docker-Distribution-API-Version': 'registry/2.0' });
        },
      },
    },
  };
}
