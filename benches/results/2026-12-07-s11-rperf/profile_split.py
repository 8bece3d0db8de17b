import collections,sys
f=sys.argv[1]; key=sys.argv[2] if len(sys.argv)>2 else 'scan_all'
c=collections.Counter(); self_=collections.Counter(); tot=0; alltot=0
for l in open(f):
    stack,n=l.rstrip().rsplit(' ',1); n=int(n); alltot+=n
    if key not in stack: continue
    fr=stack.split(';'); tot+=n
    # attribute to the first interesting frame from the top
    for g in reversed(fr):
        if any(k in g for k in ['crc32fast','visit_records_from','parse_record','cursor_of','memcpy','for_each_batch','BatchHeader::parse','scan_all','page_fault','VisitState']):
            c[g[:90]]+=n; break
    else: c['other:'+fr[-1][:60]]+=n
print('samples under',key,tot,'of',alltot)
for k,v in c.most_common(15): print(f"{v/tot:.3f} {k}")
