/** One banner above the content, for problems that concern the whole window. */
import { h } from './dom.js';

export interface Notice {
  readonly element: HTMLElement;
  show(text: string): void;
  hide(): void;
}

export function createNotice(): Notice {
  const text = h('span', {});
  const element = h('div', { class: 'notice', role: 'alert' }, text);
  element.hidden = true;
  return {
    element,
    show(message) {
      text.textContent = message;
      element.hidden = false;
    },
    hide() {
      element.hidden = true;
    },
  };
}
