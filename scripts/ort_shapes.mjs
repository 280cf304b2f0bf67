// Runs ONNX Runtime on the request shapes `floe bench --save-shapes` wrote:
// each request is one batch padded to its longest input (what a padded engine
// computes), with an attention mask for the real tokens. Prints one JSON line:
// real tokens/s (what floe bench reports), padded tokens/s, and how much of
// the computed batch was padding. Run by scripts/peer-shapes.sh.
import ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
const [model, shapesPath, threads] = [process.argv[2], process.argv[3], +process.argv[4]];
const shapes = readFileSync(shapesPath, 'utf8').split('\n').filter((l) => l.trim())
  .map((l) => JSON.parse(l).lengths);
const sess = await ort.InferenceSession.create(model, {
  intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  executionMode: 'sequential' });
function feeds(lengths) {
  const batch = lengths.length, seq = Math.max(...lengths), n = batch * seq;
  const ids = new BigInt64Array(n), mask = new BigInt64Array(n);
  lengths.forEach((len, b) => {
    for (let t = 0; t < len; t++) {
      ids[b * seq + t] = BigInt(1000 + ((b * 131 + t) * 7919) % 19000);
      mask[b * seq + t] = 1n;
    }
  });
  return { input_ids: new ort.Tensor('int64', ids, [batch, seq]),
           attention_mask: new ort.Tensor('int64', mask, [batch, seq]) };
}
await sess.run(feeds(shapes[0]));  // warm-up
let real = 0, padded = 0;
const t0 = performance.now();
for (const lengths of shapes) {
  await sess.run(feeds(lengths));
  real += lengths.reduce((a, b) => a + b, 0);
  padded += lengths.length * Math.max(...lengths);
}
const s = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ peer: 'onnxruntime-1.30.0', requests: shapes.length, threads,
  seconds: s, real_tokens_per_s: real / s, padded_tokens_per_s: padded / s,
  padding_fraction: 1 - real / padded }));
