/// <reference lib="dom" />
// The browser side of test/e2e/ofrep-web-sdk.test.ts: OpenFeature's web SDK with its OFREP provider,
// unchanged, bundled by esbuild and served from another origin than the API. The test drives it
// through `window.ofrepTest`.
import { OpenFeature, ProviderEvents, type EvaluationDetails, type FlagValue, type JsonValue } from "@openfeature/web-sdk";
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";

export interface PageChange {
  flagsChanged: string[];
  at: number;
}

export interface StartOptions {
  baseUrl: string;
  token: string;
  targetingKey?: string;
  region: string;
}

type Kind = "boolean" | "string" | "number" | "object";

const changes: PageChange[] = [];

async function start(o: StartOptions): Promise<string> {
  if (o.targetingKey) await OpenFeature.setContext({ targetingKey: o.targetingKey });
  const provider = new OFREPWebProvider({
    baseUrl: o.baseUrl,
    headers: [
      ["Authorization", `Bearer ${o.token}`],
      ["X-Region", o.region],
    ],
  });
  OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, (e) => {
    const flags = e && "flagsChanged" in e && Array.isArray(e.flagsChanged) ? (e.flagsChanged as string[]) : [];
    changes.push({ flagsChanged: flags, at: Date.now() });
  });
  try {
    await OpenFeature.setProviderAndWait(provider);
    return "ready";
  } catch (e) {
    return `failed: ${String(e)}`;
  }
}

function details(kind: Kind, key: string, dflt: FlagValue): EvaluationDetails<FlagValue> {
  const c = OpenFeature.getClient();
  switch (kind) {
    case "boolean":
      return c.getBooleanDetails(key, dflt as boolean);
    case "string":
      return c.getStringDetails(key, dflt as string);
    case "number":
      return c.getNumberDetails(key, dflt as number);
    default:
      return c.getObjectDetails(key, dflt as JsonValue);
  }
}

async function setTargetingKey(targetingKey: string): Promise<void> {
  await OpenFeature.setContext({ targetingKey });
}

declare global {
  interface Window {
    ofrepTest: {
      start: typeof start;
      details: typeof details;
      setTargetingKey: typeof setTargetingKey;
      changes: PageChange[];
    };
  }
}

window.ofrepTest = { start, details, setTargetingKey, changes };
document.body.dataset.loaded = "true";
