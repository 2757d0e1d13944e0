#!/usr/bin/env node
// Fill an XForm in the ODK web form engine (@getodk/xforms-engine), headless, from a JSON request.
//
//   node fill.mjs request.json        (or: node fill.mjs - < request.json)
//
// Request (every key but form_xml_path/form_xml optional):
//   {
//     "form_xml_path": "/tmp/household.xml",        // or "form_xml": "<h:html ...>"
//     "attachments": {"name.csv": "<csv text>"},     // served for jr://file-csv/name.csv etc.
//     "language": "Vietnamese (vi)",                 // a language of the form (itext lang)
//     "device_id": "bot",                            // preloaded deviceID
//     "answers": [
//       {"path": "/data/identification/hamlet", "value": "A01"},
//       {"path": "/data/member", "add": 3},           // repeat: make sure N instances exist
//       {"path": "/data/member[2]/sex", "value": "female"},
//       {"path": "/data/housing/info_assets", "value": "tv radio"}   // select_multiple
//     ],
//     "inspect": ["/data/member[3]/child_nutrition"]
//   }
//
// Paths are instance paths from the root element, 1-based repeat indexes ("member" = "member[1]").
// Values: text as is; int/decimal as JSON number or string; select choice codes (select_multiple:
// space-separated codes; "" or null clears); geopoint "lat lon alt acc"; date "YYYY-MM-DD".
//
// Repeats: {"add": N} asks for N instances on that repeat in total, counted from the first "add"
// on it (a form-created blank first instance counts as the first one). Several adds on the same
// repeat accumulate. A repeat whose count is controlled by the form (repeat_count / jr:count)
// creates its instances itself: "add" is then only checked (after all answers) and reported in
// "errors" when the form made fewer instances than asked.
//
// Response, one JSON object on stdout (exit code 0 whenever that object could be written):
//   {"status": "ready"|"pending"|"load_failure"|"error", "error": null|"...",
//    "submission_xml": "<data ...>...</data>" (also when pending),
//    "violations": [{"path", "condition": "constraint"|"required", "message"}],
//    "errors": [{"path", "message"}],             // bad paths, values the engine refused, ...
//    "inspected": {"<path>": {"relevant", "required", "value", "label", "node_type", "violation"} | null},
//    "languages": ["English (en)", ...],
//    "timings_ms": {"load", "fill", "serialize"}}
// Messages and labels are in the chosen language.

import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

const emit = (obj) => {
  for (const [k, ms] of Object.entries(obj.timings_ms ?? {})) {
    if (typeof ms === 'number') obj.timings_ms[k] = Math.round(ms * 10) / 10;
  }
  return new Promise((resolve) => {
    process.stdout.write(
      JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n',
      resolve,
    );
  });
};

const errorText = (e) => (e && e.message ? e.message : String(e));

// --- paths -------------------------------------------------------------------------------------

function parsePath(path) {
  if (typeof path !== 'string' || !path.startsWith('/')) return null;
  const steps = [];
  for (const raw of path.slice(1).split('/')) {
    const m = /^([^[\]\s/]+)(?:\[(\d+)\])?$/.exec(raw);
    if (!m) return null;
    steps.push({ name: m[1], index: m[2] === undefined ? null : Number(m[2]) });
  }
  return steps.length ? steps : null;
}

function nodeName(node) {
  // "/data/member/sex" -> "sex"; the definition's nodeset is the model path, without predicates.
  const nodeset = node.definition?.nodeset ?? '';
  const last = nodeset.split('/').pop() ?? '';
  return last.replace(/\[.*\]$/, '');
}

const isRange = (node) => node.nodeType.startsWith('repeat-range');
const children = (node) => node.currentState.children ?? [];

/** The node a path names, or {error}. A path ending at a repeat without an index names the range. */
function resolve(root, path) {
  const steps = parsePath(path);
  if (!steps) return { error: 'bad path (expected /root/group/field, repeat steps as name[n])' };
  if (steps[0].name !== nodeName(root) || steps[0].index !== null) {
    return { error: `no such node (the root element is "${nodeName(root)}")` };
  }
  let node = root;
  for (let i = 1; i < steps.length; i++) {
    const { name, index } = steps[i];
    const child = children(node).find((c) => nodeName(c) === name);
    if (!child) return { error: 'no such node' };
    if (isRange(child)) {
      const last = i === steps.length - 1;
      if (last && index === null) {
        node = child;
        continue;
      }
      const instances = children(child);
      const k = index ?? 1;
      if (k < 1 || k > instances.length) {
        return { error: `no such node (repeat "${name}" has ${instances.length} instance(s))` };
      }
      node = instances[k - 1];
    } else {
      if (index !== null && index !== 1) return { error: 'no such node (not a repeat)' };
      node = child;
    }
  }
  return { node };
}

// --- answers -----------------------------------------------------------------------------------

function setAnswer(node, value) {
  switch (node.nodeType) {
    case 'select': {
      const codes =
        value === null || value === undefined
          ? []
          : Array.isArray(value)
            ? value.map(String)
            : String(value).split(/\s+/).filter(Boolean);
      const known = new Set(node.currentState.valueOptions.map((o) => o.value));
      const unknown = codes.filter((c) => !known.has(c));
      if (unknown.length) {
        const offered = [...known].join(' ') || '(none offered: the list may be filtered by a choice_filter)';
        throw new Error(`not a choice of this question: ${unknown.join(' ')} (choices: ${offered})`);
      }
      if (node.selectType === 'select1') {
        if (codes.length > 1) throw new Error('a select_one takes one code');
        node.selectValue(codes[0] ?? null);
      } else {
        node.selectValues(codes);
      }
      return;
    }
    case 'input':
    case 'range':
    case 'rank':
    case 'trigger':
      if (typeof node.setValue !== 'function') throw new Error(`cannot set a ${node.nodeType} node`);
      if (node.nodeType === 'rank') {
        node.setValue(Array.isArray(value) ? value : String(value ?? '').split(/\s+/).filter(Boolean));
      } else if (node.nodeType === 'trigger') {
        node.setValue(value === true || value === 'OK' || value === 'true');
      } else {
        node.setValue(value === null || value === undefined ? '' : value);
      }
      return;
    case 'model-value':
      throw new Error('a calculated or hidden field (no control): its value cannot be set');
    case 'note':
      throw new Error('a note: nothing to answer');
    default:
      throw new Error(`cannot set a value on a ${node.nodeType} node`);
  }
}

function nodeValue(node) {
  const state = node.currentState;
  if (node.nodeType === 'select') return [...state.value].join(' ');
  if ('instanceValue' in state) return state.instanceValue;
  return null;
}

function violationOf(node) {
  const v = node.validationState && 'violation' in node.validationState ? node.validationState.violation : null;
  return v ? { condition: v.condition, message: v.message?.asString ?? defaultMessage(v.condition) } : null;
}

const defaultMessage = (condition) => (condition === 'required' ? 'required' : 'constraint not satisfied');

function describe(node) {
  const state = node.currentState;
  return {
    node_type: node.nodeType,
    relevant: state.relevant,
    required: state.required,
    value: isRange(node) ? null : nodeValue(node),
    instances: isRange(node) ? children(node).length : undefined,
    label: state.label?.asString ?? null,
    violation: violationOf(node),
  };
}

// --- main --------------------------------------------------------------------------------------

async function main() {
  const arg = process.argv[2];
  if (!arg) {
    await emit({ status: 'error', error: 'usage: node fill.mjs request.json (or - for stdin)' });
    process.exitCode = 2;
    return;
  }
  const out = {
    status: 'error',
    error: null,
    submission_xml: null,
    violations: [],
    errors: [],
    inspected: {},
    languages: [],
    timings_ms: { load: null, fill: null, serialize: null },
  };
  let request;
  try {
    const text = arg === '-' ? await readStdin() : await readFile(arg, 'utf8');
    request = JSON.parse(text);
    if (!request || typeof request !== 'object') throw new Error('the request is not a JSON object');
  } catch (e) {
    out.error = `cannot read the request: ${errorText(e)}`;
    return emit(out);
  }

  let formXml;
  try {
    formXml = request.form_xml ?? (await readFile(request.form_xml_path, 'utf8'));
  } catch (e) {
    out.error = `cannot read the form: ${errorText(e)}`;
    return emit(out);
  }

  await import('./setup-dom.mjs');
  const { loadForm } = await import('@getodk/xforms-engine');

  const attachments = request.attachments ?? {};
  const fetchFormAttachment = async (url) => {
    const href = String(url?.href ?? url);
    const name = decodeURIComponent(href.split('/').pop() ?? '');
    if (Object.hasOwn(attachments, name)) return new Response(attachments[name], { status: 200 });
    return new Response(`no attachment ${name} in the request`, { status: 404, statusText: 'Not Found' });
  };

  // --- load
  let t0 = performance.now();
  let root;
  try {
    const result = await loadForm(formXml, { fetchFormAttachment });
    if (result.status === 'failure') {
      out.status = 'load_failure';
      out.error = errorText(result.error);
      out.timings_ms.load = performance.now() - t0;
      return emit(out);
    }
    if (result.warnings) out.load_warnings = String(result.warnings?.message ?? JSON.stringify(result.warnings));
    const instance = result.createInstance({ preloadProperties: { deviceID: request.device_id ?? 'rasoat-test' } });
    root = instance.root;
  } catch (e) {
    out.status = 'load_failure';
    out.error = errorText(e);
    out.timings_ms.load = performance.now() - t0;
    return emit(out);
  }
  out.timings_ms.load = performance.now() - t0;
  out.languages = root.languages.map((l) => l.language);

  // --- fill
  t0 = performance.now();
  if (request.language) {
    const lang = root.languages.find((l) => l.language === request.language);
    if (lang) root.setLanguage(lang);
    else out.errors.push({ path: null, message: `no language "${request.language}" (form has: ${out.languages.join(', ')})` });
  }
  const asked = new Map(); // range node -> {path, count}
  for (const [i, answer] of (request.answers ?? []).entries()) {
    const path = answer?.path;
    const found = resolve(root, path);
    if (found.error) {
      out.errors.push({ path: path ?? `answers[${i}]`, message: found.error });
      continue;
    }
    const node = found.node;
    try {
      if ('add' in answer) {
        if (!isRange(node)) throw new Error('"add" needs a repeat (path without an index)');
        const n = Number(answer.add);
        if (!Number.isInteger(n) || n < 0) throw new Error('"add" takes a whole number');
        const entry = asked.get(node) ?? { path, count: 0 };
        entry.count += n;
        asked.set(node, entry);
        if (node.nodeType === 'repeat-range:uncontrolled') {
          const missing = entry.count - children(node).length;
          if (missing > 0) node.addInstances(undefined, missing);
        }
      } else if ('value' in answer) {
        setAnswer(node, answer.value);
      } else {
        throw new Error('an answer needs "value" or "add"');
      }
    } catch (e) {
      out.errors.push({ path, message: errorText(e) });
    }
  }
  for (const [node, { path, count }] of asked) {
    const have = children(node).length;
    if (have < count) {
      const how = node.nodeType === 'repeat-range:controlled' ? ' (its count is set by the form: answer the count question)' : '';
      out.errors.push({ path, message: `repeat has ${have} instance(s), ${count} asked for${how}` });
    }
  }
  for (const path of request.inspect ?? []) {
    const found = resolve(root, path);
    if (found.error) {
      out.inspected[path] = null;
      out.errors.push({ path, message: found.error });
    } else {
      out.inspected[path] = describe(found.node);
    }
  }
  out.timings_ms.fill = performance.now() - t0;

  // --- serialize
  t0 = performance.now();
  try {
    const payload = await root.prepareInstancePayload();
    out.status = payload.status;
    out.violations = (payload.violations ?? []).map((v) => ({
      path: v.reference,
      condition: v.violation?.condition ?? null,
      message: v.violation?.message?.asString ?? defaultMessage(v.violation?.condition),
    }));
    const file = payload.data[0].get('xml_submission_file');
    out.submission_xml = file ? await file.text() : null;
  } catch (e) {
    out.status = 'error';
    out.error = `serialization failed: ${errorText(e)}`;
  }
  out.timings_ms.serialize = performance.now() - t0;
  return emit(out);
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

try {
  await main();
} catch (e) {
  await emit({ status: 'error', error: `harness failure: ${e?.stack ?? e}` });
}
// The engine keeps reactive state alive; do not wait for the event loop to drain.
process.exit(process.exitCode ?? 0);
