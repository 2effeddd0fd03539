// Module resolution hook: 'k6' and 'k6/<name>' are the stand-ins in this
// directory (k6.mjs, k6-<name>.mjs).
export async function resolve(specifier, context, next) {
  if (specifier === 'k6' || specifier.startsWith('k6/')) {
    const file = specifier === 'k6' ? 'k6.mjs' : `k6-${specifier.slice(3)}.mjs`;
    return { url: new URL(file, import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
