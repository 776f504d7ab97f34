// The packages a bundled function keeps in its node_modules (ADR 009): what esbuild cannot put in the
// bundle. @node-rs/argon2 is a native addon (with its platform binding, @node-rs/argon2-<platform>);
// fxa-common-password-list (and its dependency incremental-encoder) is loaded through createRequire.
// scripts/bundle-functions.ts prunes every other traced package; scripts/vercel-build-config.ts tells
// `vercel build` not to trace them in the first place.

/** Whether a package (`name` or `@scope/name`) stays in a bundled function's node_modules. */
export const keptInFunction = (pkg: string): boolean =>
  pkg === '@node-rs/argon2' ||
  pkg.startsWith('@node-rs/argon2-') ||
  pkg === 'fxa-common-password-list' ||
  pkg === 'incremental-encoder'

/** The top-level node_modules entries (a scope or a package) that hold every kept package. */
export const KEPT_TOP_LEVEL = ['@node-rs', 'fxa-common-password-list', 'incremental-encoder']
