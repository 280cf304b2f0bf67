// Checks every manifest here against the Kubernetes OpenAPI schemas, offline:
//   npm install --prefix /tmp/k8s-lint kubernetes-models@5 yaml
//   NODE_PATH=/tmp/k8s-lint/node_modules node deploy/kubernetes/validate.mjs
// (kubernetes-models ships the schemas of each API group and validates with ajv.)
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// ESM ignores NODE_PATH: load the packages from there by path.
const modules = process.env.NODE_PATH ?? "node_modules";
const load = (p) => import(pathToFileURL(join(modules, p)).href);
const YAML = (await load("yaml/dist/index.js")).default ?? (await load("yaml/dist/index.js"));
const kinds = {
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment.js",
  "v1/Service": "kubernetes-models/v1/Service.js",
  "autoscaling/v2/HorizontalPodAutoscaler": "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler.js",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget.js",
};
const here = dirname(fileURLToPath(import.meta.url));
let failed = 0, checked = 0;
for (const file of readdirSync(here).filter((f) => f.endsWith(".yaml")).sort()) {
  for (const doc of YAML.parseAllDocuments(readFileSync(join(here, file), "utf8"))) {
    if (doc.errors.length) { console.log(`FAIL ${file}: ${doc.errors[0].message}`); failed++; continue; }
    const obj = doc.toJS();
    if (!obj) continue;
    const key = `${obj.apiVersion}/${obj.kind}`;
    if (obj.kind === "Kustomization") { console.log(`skip ${file}: ${key} (not a cluster resource)`); continue; }
    const mod = kinds[key];
    if (!mod) { console.log(`FAIL ${file}: no schema for ${key}`); failed++; continue; }
    const Model = Object.values(await load(mod)).find((v) => typeof v === "function");
    try {
      new Model(obj).validate();
      console.log(`ok   ${file}: ${key} ${obj.metadata.name}`);
      checked++;
    } catch (e) {
      console.log(`FAIL ${file}: ${key} ${obj.metadata?.name}: ${e.message}`);
      failed++;
    }
  }
}
console.log(`${checked} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
