/** Sidebar icons: simple line drawings built with the DOM (no markup strings), white on a tint. */
const SVG = 'http://www.w3.org/2000/svg';

type Shape = readonly [
  tag: 'path' | 'circle' | 'rect',
  attributes: Readonly<Record<string, string>>,
];

const ICONS: Readonly<Record<string, readonly Shape[]>> = {
  onepassword: [
    ['circle', { cx: '5.5', cy: '8', r: '3' }],
    ['path', { d: 'M8.5 8h6M12.5 8v2.5M14.5 8v2' }],
  ],
  mappings: [['path', { d: 'M2 5.5h11M10 2.5l3 3-3 3M14 10.5H3M6 7.5l-3 3 3 3' }]],
  agents: [
    ['circle', { cx: '8', cy: '5', r: '2.5' }],
    ['path', { d: 'M3 14c0-3 2.2-4.8 5-4.8s5 1.8 5 4.8' }],
  ],
  certificate: [
    ['path', { d: 'M8 1.5l5.5 2v4.3c0 3.2-2.3 5.6-5.5 6.7-3.2-1.1-5.5-3.5-5.5-6.7V3.5z' }],
    ['path', { d: 'M5.5 8l1.8 1.8 3.2-3.6' }],
  ],
  activity: [['path', { d: 'M1.5 8.5h3l2-5 3 9 2-4h3' }]],
  general: [
    ['path', { d: 'M2.5 4.5h11M2.5 8h11M2.5 11.5h11' }],
    ['circle', { cx: '6', cy: '4.5', r: '1.6', class: 'knob' }],
    ['circle', { cx: '10.5', cy: '8', r: '1.6', class: 'knob' }],
    ['circle', { cx: '5', cy: '11.5', r: '1.6', class: 'knob' }],
  ],
};

export function icon(name: string): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', `icon icon-${name}`);
  for (const [tag, attributes] of ICONS[name] ?? []) {
    const shape = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attributes)) shape.setAttribute(key, value);
    svg.append(shape);
  }
  return svg;
}
