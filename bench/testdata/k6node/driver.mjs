// Driven by bench/k6_test.go. Modes:
//   driver.mjs requests LIB MEMBERS   reserve for each member (the first one
//       twice), read the first member, preflight async; print the requests
//   driver.mjs base64url TOKEN_JS STRINGS   print base64url of each string
// MEMBERS and STRINGS are JSON arrays; the output is one JSON value.
import { pathToFileURL } from 'node:url';

const [mode, file, arg] = process.argv.slice(2);
const mod = await import(pathToFileURL(file).href);
const list = JSON.parse(arg);
if (mode === 'requests') {
  for (const m of list) {
    mod.reserve('async', 1, m);
  }
  mod.reserve('async', 1, list[0]);
  mod.readMember(list[0]);
  mod.preflight(['async']);
  console.log(JSON.stringify(globalThis.__k6calls));
} else if (mode === 'base64url') {
  console.log(JSON.stringify(list.map((s) => mod.base64url(s))));
} else {
  throw new Error(`unknown mode ${mode}`);
}
