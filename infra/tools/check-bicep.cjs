#!/usr/bin/env node
// check-bicep.cjs — offline *syntax* check of Bicep files.
//
// No Bicep compiler can be installed from the registries this project reaches
// (the Bicep CLI ships from GitHub releases / downloads.bicep.azure.com or
// NuGet; the npm wrapper `bicep-node` downloads it at run time). This parses
// every .bicep file with the tree-sitter-bicep grammar (WebAssembly build,
// shipped in its npm package) and fails on any ERROR or MISSING node. It
// catches unbalanced braces, broken strings, misplaced keywords, bad
// decorators and the like — not type errors, unknown properties or wrong
// API versions: run `az bicep build --file infra/main.bicep` (or `azd
// provision --preview`) where the Bicep CLI is available.
//
// Usage: node infra/tools/check-bicep.cjs [FILE_OR_DIR ...]   (default: infra/)
'use strict';
const fs = require('fs');
const path = require('path');
const { Parser, Language } = require('web-tree-sitter');

const EXTENSION_DECL = /^extension[ \t]+(?:'[^'\n]*'|[A-Za-z_][A-Za-z0-9_]*)(?:[ \t]+with[ \t]+\{[^\n]*\})?(?:[ \t]+as[ \t]+[A-Za-z_][A-Za-z0-9_]*)?[ \t]*$/gm;

function bicepFiles(p, out) {
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    for (const e of fs.readdirSync(p)) {
      if (e === 'node_modules' || e.startsWith('.')) continue;
      bicepFiles(path.join(p, e), out);
    }
  } else if (p.endsWith('.bicep')) {
    out.push(p);
  }
  return out;
}

function problems(node, out) {
  if (node.isError || node.type === 'ERROR') {
    out.push({ kind: 'syntax error', node });
    return out; // children of an ERROR node add nothing useful
  }
  if (node.isMissing) out.push({ kind: `missing ${node.type}`, node });
  for (let i = 0; i < node.childCount; i++) problems(node.child(i), out);
  return out;
}

(async () => {
  const root = path.resolve(__dirname, '..');
  const args = process.argv.slice(2);
  const files = [];
  for (const a of args.length ? args : [root]) bicepFiles(path.resolve(a), files);
  if (files.length === 0) {
    console.error('check-bicep: no .bicep files found');
    process.exit(2);
  }
  await Parser.init();
  const lang = await Language.load(require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm'));
  const parser = new Parser();
  parser.setLanguage(lang);
  let failed = 0;
  for (const f of files.sort()) {
    const src = fs.readFileSync(f, 'utf8');
    // tree-sitter-bicep 1.1.0 predates the `extension` declaration (Bicep
    // ≥ 0.30; e.g. `extension microsoftGraphV1`): blank such lines, keeping
    // offsets, and check the rest.
    const masked = src.replace(EXTENSION_DECL, (m) => m.replace(/[^\n]/g, ' '));
    const tree = parser.parse(masked);
    const found = problems(tree.rootNode, []);
    const rel = path.relative(process.cwd(), f);
    if (found.length === 0) {
      console.log(`ok   ${rel}`);
      continue;
    }
    failed++;
    for (const { kind, node } of found) {
      const line = src.split('\n')[node.startPosition.row] || '';
      console.log(`FAIL ${rel}:${node.startPosition.row + 1}:${node.startPosition.column + 1}: ${kind}`);
      console.log(`     ${line.trim()}`);
    }
  }
  console.log(`${files.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((err) => {
  console.error(`check-bicep: ${err && err.stack ? err.stack : err}`);
  process.exit(2);
});
