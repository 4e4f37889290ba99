/** The page's icon: a globe with a replication ring, in the header's accent colour. */
export const faviconSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<circle cx="16" cy="16" r="13" fill="#2563eb"/>
<path d="M3 16h26M16 3c-4.5 4-4.5 22 0 26M16 3c4.5 4 4.5 22 0 26" fill="none" stroke="#fff" stroke-width="2"/>
</svg>
`;
