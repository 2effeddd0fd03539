// Stand-in for k6/http: records each request in globalThis.__k6calls and
// answers SHIM_STATUS (default 202) with an empty JSON body.
function answer() {
  const status = Number(globalThis.__ENV.SHIM_STATUS || 202);
  return { status, timings: { duration: 1 }, error_code: 0, json: () => ({ error: 'shim' }) };
}

function record(method, url, body, params) {
  globalThis.__k6calls.push({ method, url, body: body === undefined ? null : body, headers: (params && params.headers) || {} });
  return answer();
}

export function expectedStatuses() {
  return 'expected-statuses';
}

export function get(url, params) {
  return record('GET', url, undefined, params);
}

export function post(url, body, params) {
  return record('POST', url, body, params);
}

export default { expectedStatuses, get, post };
