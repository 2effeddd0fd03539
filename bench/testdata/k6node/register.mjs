// Lets node import bench/k6/lib.js for bench/k6_test.go: k6's globals from
// the environment and the file system, and its modules resolved to the
// stand-ins beside this file (node --import ./register.mjs driver.mjs ...).
import { readFileSync } from 'node:fs';
import { register } from 'node:module';

globalThis.__ENV = { ...process.env };
globalThis.open = (path) => readFileSync(path, 'utf8');
globalThis.__k6calls = [];
register('./hooks.mjs', import.meta.url);
