{n=$NF; tot+=n;
c="other";
if ($0 ~ /asm_exc_page_fault/) c="page faults (anonymous memory, frame buffers)";
else if ($0 ~ /__x64_sys_recvfrom|ksys_read|tcp_recvmsg/) c="socket read";
else if ($0 ~ /pwrite64/) c="pwrite (engine write into page cache)";
else if ($0 ~ /fdatasync|do_fsync/) c="fsync";
else if ($0 ~ /crc32c/) c="Kafka batch CRC-32C";
else if ($0 ~ /sendto|sendmsg|tcp_sendmsg|writev/) c="socket write";
else if ($0 ~ /futex|ep_poll|epoll_wait|__schedule|finish_task_switch|try_to_wake_up/) c="wake-ups, scheduling";
else if ($0 ~ /encode_at|encode_record|Payload.*encode/) c="engine batch encode";
else if ($0 ~ /produced_records|RecordBatch::parse|decode_request|WireRecord|produce_frame|decode/) c="request parse";
else if ($0 ~ /malloc|free|alloc::alloc|munmap|mmap/) c="allocation";
t[c]+=n} END {for(k in t) printf "%5.1f%% %s\n", 100*t[k]/tot, k}
