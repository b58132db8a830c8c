/** Copy to the clipboard, or say how to copy by hand when the page may not. */
export async function copyText(
  text: string,
  status: HTMLElement,
  selectable?: HTMLElement,
): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = 'Copied';
  } catch {
    status.textContent = 'Select and copy (⌘C)';
    if (selectable instanceof HTMLInputElement) selectable.select();
    else if (selectable) {
      const range = document.createRange();
      range.selectNodeContents(selectable);
      const selection = getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
    }
  }
  setTimeout(() => {
    status.textContent = '';
  }, 4000);
}
