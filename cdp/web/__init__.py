"""Server-rendered pages: the privacy centre for data subjects (/privacy) and the compliance console for
officers (/console). Doors like GraphQL: each page builds an AccessContext, calls one service and commits."""
