import { PG, type DocFusionFunction } from './function.js';
import { mergePatch } from './jsonb/merge-patch.js';
import { serializeJsonb } from './jsonb/serialize.js';
import { bindJson, strict } from './support/json-args.js';

/** `json_merge_patch(doc, patch)` → jsonb: RFC 7396 JSON Merge Patch. Runs only in the proxy. */
export const jsonMergePatch: DocFusionFunction = {
  name: 'json_merge_patch',
  params: ['document', 'json'],
  minArgs: 2,
  returns: PG.jsonb,
  volatility: 'immutable',
  signature: 'json_merge_patch(doc jsonb, patch jsonb)',
  summary:
    'The document with the RFC 7396 merge patch applied (null removes a key, objects merge recursively, anything else replaces); evaluated only in the proxy.',
  bind: (constants) => {
    const doc = bindJson(constants, 0);
    const patch = bindJson(constants, 1);
    return strict((args) => serializeJsonb(mergePatch(doc(args), patch(args))));
  },
};
