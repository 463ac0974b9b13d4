import type { ComponentChildren } from 'preact';

/**
 * A table of the console's views: its name for screen readers, its column headers, its rows. Wider than the screen
 * (a tablet), it scrolls sideways in its own box, not the page.
 */
export function PlainTable(props: { label: string; columns: readonly string[]; children: ComponentChildren }) {
  return (
    <div class="plain-wrap">
      <table class="plain" aria-label={props.label}>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
