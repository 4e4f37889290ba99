#!/usr/bin/env node
import { runCli } from './cli.js';
import { quietWarnings } from './warnings.js';

quietWarnings();
process.exitCode = await runCli(process.argv.slice(2));
