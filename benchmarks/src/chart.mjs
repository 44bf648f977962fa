// step-overhead.svg: overhead per step against step index, one line per system. Each point
// is the median of a bucket of 20 consecutive gaps, so the lines show the trend rather
// than scheduler noise. The y axis turns logarithmic when systems differ by more than 20×.
import { summarize } from './statistics.mjs';

const palette = ['#1b7f5b', '#2a6fdb', '#c2410c', '#7c3aed', '#b91c1c', '#0e7490'];
const width = 860;
const height = 440;
const margin = { top: 40, right: 220, bottom: 50, left: 70 };
const bucket = 20;

const escapeXml = (text) => String(text).replace(/[<>&"]/g, (character) => `&#${character.charCodeAt(0)};`);

/** 1, 2 or 5 times a power of ten: tick spacing a reader can add up. */
function niceStep(rough) {
  const power = 10 ** Math.floor(Math.log10(rough));
  const multiple = rough / power;
  return power * (multiple <= 1 ? 1 : multiple <= 2 ? 2 : multiple <= 5 ? 5 : 10);
}

export function renderStepOverheadChart(results) {
  const series = Object.entries(results.stepIndex)
    .filter(([, entry]) => entry.status === 'ok')
    .map(([name, entry]) => {
      const points = [];
      for (let start = 0; start < entry.overheadByIndex.length; start += bucket) {
        const slice = entry.overheadByIndex.slice(start, start + bucket);
        points.push({ index: start + 2 + slice.length / 2, overhead: summarize(slice).median });
      }
      return { name, points };
    });
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const all = series.flatMap((line) => line.points.map((point) => point.overhead)).filter((value) => value > 0);
  const maxIndex = Math.max(1000, ...series.flatMap((line) => line.points.map((point) => point.index)));
  const low = all.length ? Math.min(...all) : 0.1;
  const high = all.length ? Math.max(...all) : 1;
  const logarithmic = high / low > 20;
  const yMin = logarithmic ? 10 ** Math.floor(Math.log10(low)) : 0;
  const linearStep = niceStep((high * 1.1) / 5);
  const yMax = logarithmic ? 10 ** Math.ceil(Math.log10(high)) : Math.ceil((high * 1.1) / linearStep) * linearStep;
  const x = (index) => margin.left + (index / maxIndex) * plotWidth;
  const y = (value) => {
    const fraction = logarithmic
      ? (Math.log10(Math.max(value, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))
      : value / yMax;
    return margin.top + plotHeight * (1 - fraction);
  };
  const ticks = logarithmic
    ? Array.from({ length: Math.log10(yMax / yMin) + 1 }, (_, power) => yMin * 10 ** power)
    : Array.from({ length: Math.round(yMax / linearStep) + 1 }, (_, step) => linearStep * step);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${margin.left}" y="22" font-size="15" font-weight="600">Step overhead against step index (${escapeXml(results.meta.mode)} run, ${escapeXml(results.meta.date.slice(0, 10))})</text>`,
  ];
  for (const tick of ticks) {
    const label = Number(tick.toPrecision(3));
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}" stroke="#e5e7eb"/>`,
      `<text x="${margin.left - 8}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end" fill="#374151">${label}</text>`,
    );
  }
  for (let index = 0; index <= maxIndex; index += maxIndex / 5) {
    parts.push(
      `<text x="${x(index)}" y="${margin.top + plotHeight + 18}" text-anchor="middle" fill="#374151">${Math.round(index)}</text>`,
    );
  }
  parts.push(
    `<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#6b7280"/>`,
    `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${margin.top + plotHeight}" y2="${margin.top + plotHeight}" stroke="#6b7280"/>`,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 12}" text-anchor="middle" fill="#111827">step index</text>`,
    `<text transform="translate(18 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle" fill="#111827">ms since the previous step${logarithmic ? ' (log scale)' : ''}</text>`,
  );
  series.forEach((line, position) => {
    const color = palette[position % palette.length];
    const path = line.points.map((point) => `${x(point.index).toFixed(1)},${y(point.overhead).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${path}"/>`);
    const legendY = margin.top + 10 + position * 20;
    parts.push(
      `<line x1="${margin.left + plotWidth + 20}" x2="${margin.left + plotWidth + 40}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${margin.left + plotWidth + 46}" y="${legendY + 4}" fill="#111827">${escapeXml(line.name)}</text>`,
    );
  });
  if (series.length === 0) {
    parts.push(`<text x="${margin.left + 20}" y="${margin.top + 30}">No step-index measurement in this run.</text>`);
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
