#!/usr/bin/env python3
# Checks every relative link and #anchor in README.md and docs/**/*.md (GitHub anchor rules: lowercase,
# punctuation dropped, spaces to "-", "-1", "-2" for repeats). Usage: python3 scripts/check-doc-links.py [ROOT]
import re, os, sys, glob
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
files = [os.path.join(root,'README.md')] + glob.glob(os.path.join(root,'docs','**','*.md'), recursive=True)
def slug(h):
    h = h.strip().lower()
    h = re.sub(r'[^\w\- ]', '', h)   # drop punctuation (keeps letters, digits, _, -, space)
    return h.replace(' ', '-')
def anchors(path):
    out=set(); counts={}
    inside=False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'): inside = not inside; continue
        if inside: continue
        m=re.match(r'^(#{1,6})\s+(.*?)\s*#*\s*$', line)
        if m:
            s=slug(m.group(2)); n=counts.get(s,0); counts[s]=n+1
            out.add(s if n==0 else f'{s}-{n}')
    return out
bad=0; total=0
for f in files:
    text=open(f,encoding='utf-8').read()
    text=re.sub(r'```.*?```','',text,flags=re.S)
    text=re.sub(r'`[^`\n]*`','',text)
    for m in re.finditer(r'\]\(([^)\s]+)\)', text):
        link=m.group(1)
        if re.match(r'^[a-z]+:', link): continue
        total+=1
        path,_,anchor=link.partition('#')
        target=os.path.normpath(os.path.join(os.path.dirname(f),path)) if path else f
        if not os.path.exists(target):
            print(f'{os.path.relpath(f,root)}: missing file {link}'); bad+=1; continue
        if anchor:
            if not target.endswith('.md'):
                print(f'{os.path.relpath(f,root)}: anchor on non-md {link}'); bad+=1; continue
            if anchor not in anchors(target):
                print(f'{os.path.relpath(f,root)}: missing anchor {link}'); bad+=1
print(f'{total} relative links checked, {bad} broken')
sys.exit(1 if bad else 0)
