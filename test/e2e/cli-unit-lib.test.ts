import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RolloutDetail } from "@edgeplane/client";
// Plain ESM modules of the CLI, tested in the node environment.
import { configPath, resolveConnection, writeConfigFile, DEFAULT_URL } from "../../cli/lib/config.ts";
import { formatApiError, pointerIssues, ApiError } from "../../cli/lib/errors.ts";
import { renderPatch, patchOf } from "../../cli/lib/diff.ts";
import { parseDuration, formatSeconds } from "../../cli/lib/duration.ts";
import { renderTable } from "../../cli/lib/table.ts";
import { bar, LiveBlock } from "../../cli/lib/progress.ts";
import { colors, stripAnsi, colorEnabled } from "../../cli/lib/colors.ts";
import { defaultIdempotencyKey } from "../../cli/commands/versions.ts";
import { buildPlan } from "../../cli/commands/rollout.ts";
import { perMinute, pipelineBacklog, tailQuery } from "../../cli/commands/clicks.ts";
import { renderRollout, rolloutLine, stageTimer } from "../../cli/lib/rollout-view.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "edgeplane-cli-unit-"));
const on = colors(true);
const off = colors(false);

describe("connection resolution", () => {
  it("prefers flags over env over the config file, and defaults the URL", () => {
    const dir = tmp();
    const file = join(dir, "config.json");
    writeConfigFile(file, { url: "http://file.example:1", token: "file-token" });
    const env = { EDGEPLANE_CONFIG: file } as NodeJS.ProcessEnv;
    expect(resolveConnection({}, env)).toMatchObject({ url: "http://file.example:1", token: "file-token", sources: { url: "config", token: "config" } });
    const withEnv = { ...env, EDGEPLANE_URL: "http://env.example:2", EDGEPLANE_TOKEN: "env-token" };
    expect(resolveConnection({}, withEnv)).toMatchObject({ url: "http://env.example:2", token: "env-token" });
    expect(resolveConnection({ url: "http://flag.example:3/", token: "flag-token" }, withEnv)).toMatchObject({ url: "http://flag.example:3", token: "flag-token" });
    expect(resolveConnection({}, { EDGEPLANE_CONFIG: join(dir, "missing.json") } as NodeJS.ProcessEnv)).toMatchObject({ url: DEFAULT_URL, token: null });
  });

  it("writes the config file with mode 0600 and warns about a readable one", () => {
    const dir = tmp();
    const file = join(dir, "sub", "config.json");
    writeConfigFile(file, { url: "http://x", token: "t" });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const loose = join(dir, "loose.json");
    writeFileSync(loose, JSON.stringify({ token: "t" }), { mode: 0o644 });
    expect(resolveConnection({}, { EDGEPLANE_CONFIG: loose } as NodeJS.ProcessEnv).warning).toMatch(/chmod 600/);
  });

  it("rejects a broken config file and a bad URL as usage errors", () => {
    const dir = tmp();
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{nope");
    expect(() => resolveConnection({}, { EDGEPLANE_CONFIG: bad } as NodeJS.ProcessEnv)).toThrow(/not valid JSON/);
    expect(() => resolveConnection({ url: "ftp://x" }, { EDGEPLANE_CONFIG: join(dir, "none") } as NodeJS.ProcessEnv)).toThrow(/only http and https/);
  });

  it("uses XDG_CONFIG_HOME or HOME for the default config path", () => {
    expect(configPath({ HOME: "/home/u" } as NodeJS.ProcessEnv)).toBe("/home/u/.config/edgeplane/config.json");
    expect(configPath({ HOME: "/home/u", XDG_CONFIG_HOME: "/x" } as NodeJS.ProcessEnv)).toBe("/x/edgeplane/config.json");
  });
});

describe("error rendering", () => {
  it("lists validation issues one per line with their JSON pointers", () => {
    const err = new ApiError(422, "validation_failed", "Values do not match the schema", [
      { pointer: "/limits/max", message: "must be ≤ 10" },
      { pointer: "/name", message: "is required" },
    ], { method: "POST", path: "/x" });
    const lines = formatApiError(err, off);
    expect(lines[0]).toBe("error: Values do not match the schema (HTTP 422 validation_failed)");
    expect(lines.slice(1)).toEqual(["  /limits/max: must be ≤ 10", "  /name: is required"]);
  });

  it("accepts {path, message} issues and other details", () => {
    expect(pointerIssues([{ path: "/plan/stages/0", message: "bad" }])).toEqual([{ where: "/plan/stages/0", message: "bad" }]);
    expect(pointerIssues({ errors: [{ instancePath: "/a", message: "m" }] })).toEqual([{ where: "/a", message: "m" }]);
    expect(pointerIssues({ allow: ["GET"] })).toBeNull();
    const lines = formatApiError(new ApiError(405, "method_not_allowed", "no", { allow: ["GET"] }, { method: "PUT", path: "/" }), off);
    expect(lines[1]).toBe('  details: {"allow":["GET"]}');
  });
});

describe("diff colouring", () => {
  it("colours add green, remove red, replace yellow", () => {
    const ops = [
      { op: "add", path: "/a", value: 1 },
      { op: "remove", path: "/b" },
      { op: "replace", path: "/c", value: "x" },
    ];
    const coloured = renderPatch(ops, on);
    expect(coloured[0]).toBe(on.green('+ /a: 1'));
    expect(coloured[1]).toBe(on.red("- /b"));
    expect(coloured[2]).toBe(on.yellow('~ /c: "x"'));
    expect(coloured[0]).not.toBe(stripAnsi(coloured[0]));
    expect(renderPatch(ops, off)).toEqual(["+ /a: 1", "- /b", '~ /c: "x"']);
    expect(patchOf({ patch: ops })).toBe(ops);
    expect(patchOf(ops)).toBe(ops);
  });
});

describe("colour decision", () => {
  it("never colours a non-TTY stream or with NO_COLOR", () => {
    const saved = { ...process.env };
    try {
      delete process.env.FORCE_COLOR;
      delete process.env.NO_COLOR;
      expect(colorEnabled({ isTTY: false } as never)).toBe(false);
      expect(colorEnabled({ isTTY: true } as never)).toBe(process.env.TERM !== "dumb");
      process.env.NO_COLOR = "1";
      expect(colorEnabled({ isTTY: true } as never)).toBe(false);
      expect(colorEnabled({ isTTY: true } as never, { color: false })).toBe(false);
    } finally {
      process.env = saved;
    }
  });
});

describe("small helpers", () => {
  it("parses and formats durations", () => {
    expect(parseDuration("90")).toBe(90);
    expect(parseDuration("15m")).toBe(900);
    expect(parseDuration("1h30m")).toBe(5400);
    expect(parseDuration("7d")).toBe(604800);
    expect(parseDuration("1x")).toBeNull();
    expect(parseDuration("m5")).toBeNull();
    expect(formatSeconds(45)).toBe("45s");
    expect(formatSeconds(245)).toBe("4m05s");
    expect(formatSeconds(7380)).toBe("2h03m");
  });

  it("renders aligned tables ignoring colour codes", () => {
    const t = renderTable(["A", "BB"], [[on.red("x"), 1], ["yyy", null]]);
    expect(stripAnsi(t).split("\n")).toEqual(["A    BB", "x    1", "yyy  -"]);
  });

  it("draws progress bars", () => {
    expect(bar(0, 10)).toBe("[░░░░░░░░░░]");
    expect(bar(50, 10)).toBe("[█████░░░░░]");
    expect(bar(100, 4, false)).toBe("[####]");
    expect(bar(250, 4, false)).toBe("[####]");
  });

  it("redraws a live block in place, clearing leftovers and clipping to the terminal width", () => {
    let written = "";
    const stream = { columns: 12, write: (s: string) => ((written += s), true) };
    const live = new LiveBlock(stream as unknown as NodeJS.WriteStream);
    live.render(["one", on.red("two is a long line")]);
    expect(written).toBe("\x1b[2Kone\n\x1b[2Ktwo is a l…\n");
    written = "";
    live.render(["only"]);
    // Up two lines, rewrite one, blank the stale second line, and come back up to the block's end.
    expect(written).toBe("\x1b[2A\x1b[2Konly\n\x1b[2K\n\x1b[1A");
  });

  it("derives a stable idempotency key from namespace, content and message", () => {
    const k = defaultIdempotencyKey("ns", '{"a":1}', "msg");
    expect(k).toBe(defaultIdempotencyKey("ns", '{"a":1}', "msg"));
    expect(k).not.toBe(defaultIdempotencyKey("ns", '{"a":2}', "msg"));
    expect(k).not.toBe(defaultIdempotencyKey("ns", '{"a":1}', "other"));
    expect(k).not.toBe(defaultIdempotencyKey("other", '{"a":1}', "msg"));
    expect(k).toMatch(/^cli-[0-9a-f]{40}$/);
  });

  it("builds rollout plans from presets, modifiers and files", () => {
    expect(buildPlan("canary", {})).toBe("canary");
    expect(buildPlan("immediate", { bake: 30 })).toEqual({ preset: "immediate", bake_seconds: 30 });
    expect(buildPlan("canary", { maxErrorRate: 0.1, minSamples: 5 })).toEqual({ preset: "canary", auto_rollback: { max_error_rate: 0.1, min_samples: 5 } });
    const file = join(tmp(), "plan.json");
    writeFileSync(file, JSON.stringify({ stages: [{ regions: "*", percent: 100, bake_seconds: 0 }] }));
    expect(buildPlan(file, {})).toEqual({ stages: [{ regions: "*", percent: 100, bake_seconds: 0 }] });
    expect(() => buildPlan(file, { bake: 5 })).toThrow(/only applies to a preset/);
    expect(() => buildPlan(join(tmp(), "missing.json"), {})).toThrow(/no such file/);
  });

  it("folds metrics series into per-minute rows with every minute present", () => {
    const q = tailQuery(Date.parse("2026-01-01T10:05:30Z"), 3, undefined);
    expect(q).toMatchObject({ granularity: "minute", from: "2026-01-01T10:03:00.000Z", to: "2026-01-01T10:06:00.000Z", group_by: "campaign" });
    const rows = perMinute(
      [
        { window_start: "2026-01-01T10:03:00Z", campaign_id: "a", clicks: 2 },
        { window_start: "2026-01-01T10:03:00Z", campaign_id: "b", clicks: 5 },
        { window_start: "2026-01-01T10:05:00Z", campaign_id: "a", clicks: 1 },
      ],
      q.from,
      q.to,
    );
    expect(rows.map((r: { clicks: number }) => r.clicks)).toEqual([7, 0, 1]);
    expect(tailQuery(0, 1, "c1")).toMatchObject({ campaign_id: "c1", group_by: undefined });
  });
});

describe("rollout view", () => {
  const rollout: RolloutDetail = {
    rollout_id: "ro_1",
    namespace: "checkout",
    version: 3,
    from_version: 2,
    state: "running",
    stage_index: 0,
    stage_count: 2,
    preset: null,
    auto_rollback: null,
    stages: [
      { index: 0, regions: ["eu"], percent: 25, bake_seconds: 120, started_at: "2026-01-01T00:00:00Z", health: [{ version: 3, ok: 9, error: 1, regions: {} }] },
      { index: 1, regions: "*", percent: 100, bake_seconds: 0, started_at: null, health: [] },
    ],
    stage_started_at: "2026-01-01T00:00:00.000Z",
    next_advance_at: "2026-01-01T00:02:00.000Z",
    paused_remaining_seconds: null,
    started_by: "alice",
    approved_by: null,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
    ended_at: null,
    end_reason: null,
    release: {
      namespace: "checkout",
      generation: 4,
      stable: 2,
      updated_at: "2026-01-01T00:00:00.000Z",
      regions: { eu: { stable: 2, candidate: 3, percent: 25, rollout_id: "ro_1" }, na: { stable: 2, candidate: null, percent: 0, rollout_id: null } },
    },
    clients: { eu: { "2": 5, "3": 2 } },
  };

  it("shows stage, countdown, per-region bars and health", () => {
    const lines = renderRollout(rollout, off, { now: Date.parse("2026-01-01T00:00:30Z") }).join("\n");
    expect(lines).toContain("rollout ro_1  checkout v2 → v3  running");
    expect(lines).toContain("stage 1/2: eu at 25%, bake 2m00s — baked 30s / 2m00s, next advance in 1m30s");
    expect(lines).toMatch(/eu\s+v2\s+v3\s+25\.00%\s+\[█████░+\]\s+v2:5 v3:2/);
    expect(lines).toMatch(/na\s+v2\s+-\s+0\.00%/);
    expect(lines).toContain("v3 (candidate): ok 9 error 1 (10.0%)");
  });

  it("summarises a rollout in one line without the timer (for change detection)", () => {
    expect(rolloutLine(rollout)).toBe("state=running stage=1/2 eu=25.00% na=0.00% | v3 ok=9 error=1");
    expect(stageTimer({ ...rollout, state: "paused", paused_remaining_seconds: 61 }, 0)).toBe("paused, 1m01s of bake left");
  });
});

describe("clicks pipeline", () => {
  it("lists only the objects that still hold something on its way to D1", () => {
    const idle = { epochs: [{ epoch: 1, shards: 2, since: null }], buffers: [{ name: "buffer:any:0", pending_clicks: 0, pending_batches: 0, frozen_forward: null }] };
    const shards = [
      { name: "shard:0", epoch: 1, open_entries: 0, open_stats: 0, frozen_handoff: null, dedup_keys: 10 },
      { name: "shard:1", epoch: 1, open_entries: 0, open_stats: 1, frozen_handoff: null, dedup_keys: 10 },
    ];
    const aggregators = [
      { name: "agg:0", open_cells: 0, open_stats: 0, frozen_flush: 7, ae_outbox: 0, sources: 2 },
      { name: "agg:1", open_cells: 0, open_stats: 0, frozen_flush: null, ae_outbox: 5, sources: 2 },
    ];
    expect(pipelineBacklog({ ...idle, shards, aggregators })).toEqual([
      ["shard", "shard:1", "0 cells, 1 stats", ""],
      ["aggregator", "agg:0", "0 cells, 0 stats", "7"],
    ]);
    // Analytics Engine points and dedup keys are not on the way to D1
    expect(pipelineBacklog({ ...idle, shards: [shards[0]], aggregators: [aggregators[1]] })).toEqual([]);
  });
});
