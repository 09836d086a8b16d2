// Types of the vendored hooks.mjs: those of the npm package preact/hooks (tests/console/node_modules).
export * from 'preact/hooks';
