"""The log layer: Kafka's on-disk partition logs, plain synchronous Python.

files        file and directory names (segments, checkpoints, -delete dirs)
index        sparse offset and time indexes of a segment
segment      one .log file plus its indexes; FileSlice for sendfile
txn_index    a segment's aborted-transaction index (.txnindex)
producer_state  idempotence and open transactions (first unstable offset)
producer_snapshot  producer state written at a clean close (<offset>.snapshot)
txn_state    producer state and .txnindex following appends; replay; aborted-txn lookup
checkpoint   checkpoint files, written atomically
leader_epoch leader epoch cache (leader-epoch-checkpoint)
loader       opening a partition directory; crash recovery
timestamps   ListOffsets by timestamp and MAX_TIMESTAMP
flush        fsync work that can leave the event loop
partition_log  PartitionLog: appends, reads, roll, retention, truncation
cleaner      log compaction (LogCleaner): prepare, clean off the loop, commit
log_manager  LogManager: every log of the broker, checkpoints, clean shutdown
"""
