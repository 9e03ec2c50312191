// schemas/*.json are what scripts/gen-schemas.ts generates from the plugins' zod schemas now:
// a config schema change without `npm run schemas` fails here.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { renderSchemas, SCHEMA_DIR } from '../../scripts/gen-schemas.js';

t.test('schemas/ matches the zod schemas', async (t) => {
  const rendered = renderSchemas();
  t.same(readdirSync(SCHEMA_DIR).sort(), Object.keys(rendered).sort(), 'one file per schema, no stale extras');
  for (const [name, text] of Object.entries(rendered)) {
    t.equal(readFileSync(join(SCHEMA_DIR, name), 'utf8'), text, `schemas/${name} is up to date (run npm run schemas)`);
  }
  const bridge = JSON.parse(rendered['ecs-bridge.json']!) as {
    properties: Record<string, unknown>;
    required: string[];
  };
  t.match(bridge, { properties: { type: { const: 'ecs-bridge' } }, required: ['type', 'bridge'] });
});
