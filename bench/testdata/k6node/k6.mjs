// Stand-in for k6's root module.
export function check() {
  return true;
}

export function fail(msg) {
  throw new Error(msg);
}
