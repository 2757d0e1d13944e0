// Browser globals the ODK web form engine expects, provided by jsdom.
// Must be imported (dynamically) BEFORE `import('@getodk/xforms-engine')`: the engine's module
// body reads `__dirname` and `DOMParser` at load time, and a static import would be hoisted.
import { JSDOM } from 'jsdom';

const { window } = new JSDOM('<!doctype html><html><body></body></html>');
for (const name of [
  'DOMParser', 'XMLSerializer', 'Node', 'Element', 'Document', 'XMLDocument', 'document',
  'NodeFilter', 'Attr', 'Text', 'Event', 'EventTarget', 'CustomEvent',
]) {
  if (!(name in globalThis)) globalThis[name] = window[name];
}
globalThis.window = window;
if (!('__dirname' in globalThis)) globalThis.__dirname = process.cwd();
