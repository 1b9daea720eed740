// uPlot charts in the dashboard's dark theme, sized to their container.
// Served by the Worker from public/vendor (scripts/build-assets.ts copies it); external to the bundle.
import uPlot from "/vendor/uplot/uPlot.esm.js";

export const PALETTE = ["#4cc9f0", "#f72585", "#b8f35d", "#ffb703", "#9d7bff", "#fb8500", "#8d99ae"];
const AXIS = { stroke: "#8b95a7", grid: { stroke: "rgba(255,255,255,0.06)", width: 1 }, ticks: { stroke: "rgba(255,255,255,0.12)", width: 1 }, font: "12px system-ui, sans-serif" };

/** uPlot's size excludes its legend, which sits below the plot: leave room for it. */
const LEGEND_PX = 28;

function sizeOf(el: HTMLElement, fixedHeight: number | undefined): { width: number; height: number } {
  const r = el.getBoundingClientRect();
  return { width: Math.max(200, Math.floor(r.width)), height: fixedHeight ?? Math.max(100, Math.floor(r.height) - LEGEND_PX) };
}

/**
 * A chart bound to a container. `series` = [{label, color, fill?, points?, paths?}]; `update(xs, ys[])`
 * replaces the data (xs in epoch ms). Recreated when the series set changes (labels differ).
 */
export interface SeriesSpec {
  label: string;
  color?: string;
  width?: number;
  fill?: string;
  legend?: boolean;
  points?: uPlot.Series.Points;
  paths?: uPlot.Series.PathBuilder;
}

export class Chart {
  readonly container: HTMLElement;
  readonly yLabel: string;
  readonly height: number | undefined;
  readonly legend: boolean;
  plot: uPlot | null = null;
  signature = "";
  raws: (readonly (number | null)[] | null | undefined)[] | null = null;

  /** `height`: a fixed plot height (the container grows with the legend); otherwise fill the container. */
  constructor(container: HTMLElement, { yLabel = "", height = undefined as number | undefined, legend = true } = {}) {
    this.container = container;
    this.yLabel = yLabel;
    this.height = height;
    this.legend = legend;
    new ResizeObserver(() => this.plot?.setSize(sizeOf(this.container, this.height))).observe(container);
  }

  /** `raws` (optional): per series, the values to show in the legend instead of the plotted ones. */
  update(xs: number[], series: SeriesSpec[], ys: (number | null)[][], raws: (readonly (number | null)[] | null | undefined)[] | null = null): void {
    this.raws = raws;
    const signature = series.map((s) => s.label).join("\u0000");
    const data = [xs.map((x) => x / 1000), ...ys] as uPlot.AlignedData;
    if (!this.plot || signature !== this.signature) {
      this.plot?.destroy();
      this.signature = signature;
      this.plot = new uPlot(this.options(series), data, this.container);
    } else {
      this.plot.setData(data);
    }
  }

  options(series: SeriesSpec[]): uPlot.Options {
    return {
      ...sizeOf(this.container, this.height),
      cursor: { drag: { x: false, y: false } },
      legend: { show: this.legend && (series.length > 1 || series.some((s) => s.legend)), live: false },
      scales: { x: { time: true }, y: { range: (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => [0, Math.max(5, max * 1.1, min)] } },
      axes: [
        { ...AXIS, values: (_u: uPlot, splits: number[]) => timeLabels(splits) },
        { ...AXIS, label: this.yLabel, labelFont: AXIS.font, size: 60, values: (_u: uPlot, splits: number[]) => splits.map(compact) },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color ?? PALETTE[i % PALETTE.length],
          width: s.width ?? 2,
          fill: s.fill,
          points: s.points ?? { show: false },
          paths: s.paths,
          spanGaps: false,
          // Stacked series plot running sums; the legend shows the series' own value (`raw`).
          value: (_u: uPlot, v: number | null, _si: number, idx: number | null) => {
            const raw = this.raws?.[i];
            const shown = raw && idx !== null && idx !== undefined ? raw[idx] : v;
            return shown === null || shown === undefined ? "–" : String(Math.round(shown));
          },
        })),
      ],
    };
  }
}

/** 24-hour UTC-independent local labels: "14:05", or "11-25 14:00" when the axis spans days. */
function timeLabels(splits: number[]): string[] {
  const multiDay = splits.length > 1 && splits[splits.length - 1]! - splits[0]! > 36 * 3600;
  const p = (x: number) => String(x).padStart(2, "0");
  return splits.map((s) => {
    const d = new Date(s * 1000);
    const hm = `${p(d.getHours())}:${p(d.getMinutes())}`;
    return multiDay ? `${p(d.getMonth() + 1)}-${p(d.getDate())} ${hm}` : hm;
  });
}

function compact(v: number): string {
  if (Math.abs(v) >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e4) return `${+(v / 1e3).toFixed(0)}k`;
  return String(+v.toFixed(2));
}

/** Fill colour with alpha for area series. */
export function alpha(hex: string, a: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

/** A path builder that draws nothing (for marker-only series). */
export const noPath: uPlot.Series.PathBuilder = () => null;
