#!/usr/bin/env node
import { runCli } from './cli.js';
import { quietWarnings } from './warnings.js';

quietWarnings();
process.exitCode = await runCli(process.argv.slice(2));
// The command is done; a connection attempt it gave up on (a TLS handshake a hung registry never
// answers) may keep the process alive until its own 10 s connect timeout: leave within 2 s, once
// what was written has had time to drain.
setTimeout(() => process.exit(), 2000).unref();
