/*! htm 3.1.1 (preact/index.module.js) | Apache-2.0 licence, see LICENSE-htm.txt | vendored by tests/console/vendor.mjs */
import{h as r,Component as o,render as t}from"./preact.mjs";export{h,render,Component}from"./preact.mjs";import e from"./htm.mjs";var m=e.bind(r);export{m as html};
