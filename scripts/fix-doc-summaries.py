#!/usr/bin/env python3
"""Splits `///` doc comments whose first sentence runs on, as swift-format's
BeginDocumentationCommentWithOneLineSummary asks: reads `swift format lint` output on stdin."""
import collections, re, sys

locations = collections.defaultdict(list)
for line in sys.stdin:
    if "add a blank comment line" not in line:
        continue
    match = re.match(r'([^:]+):(\d+):', line)
    if match:
        locations[match.group(1)].append(int(match.group(2)))
for path, lines in locations.items():
    source = open(path).read().split('\n')
    for number in sorted(lines, reverse=True):
        end = number - 1
        start = end
        while start > 0 and source[start - 1].lstrip().startswith('///'):
            start -= 1
        if start == end:
            continue
        block = source[start:end]
        indent = block[0][:len(block[0]) - len(block[0].lstrip())]
        out, done = [], False
        for line in block:
            if done:
                out.append(line)
                continue
            body = line.lstrip()[3:]
            body = body[1:] if body.startswith(' ') else body
            split = None
            for m in re.finditer(r'[.:;](\s+|$)', body):
                if body[:m.start()].count('`') % 2 == 0:
                    split = m
                    break
            if split:
                first, rest = body[:split.start()] + '.', body[split.end():]
                out += [indent + '/// ' + first, indent + '///']
                if rest.strip():
                    out.append(indent + '/// ' + rest[0].upper() + rest[1:])
                done = True
            else:
                out.append(line)
        source[start:end] = out
    open(path, 'w').write('\n'.join(source))
