package io.fraudlake.connect.s3;

import java.util.Collection;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.ErrantRecordReporter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Buffers records per topic-partition as Parquet and stores finished objects in S3.
 *
 * <p>Delivery contract: {@link #preCommit} hands the framework, per partition, the first offset that is
 * not yet in S3, so Kafka never records progress past data that exists only in memory. After a crash the
 * worker re-delivers from there, the same records form the same batches, and each object is overwritten
 * under its old name (topic, partition, start offset): no duplicates in the lake. Buffers of partitions
 * that are closed or of a stopped task are dropped; their records come again.
 *
 * <p>Values without a schema, non-Struct values and unsupported field types raise a DataException that
 * names the record; with {@code errors.tolerance=all} (and optionally a dead-letter queue) the framework's
 * errant record reporter takes the record instead and the task carries on.
 */
public class S3ParquetSinkTask extends SinkTask {

    private static final Logger log = LoggerFactory.getLogger(S3ParquetSinkTask.class);

    /** How long the framework waits before re-delivering after a failed upload. */
    static final long UPLOAD_RETRY_BACKOFF_MS = 5_000;

    private final Function<S3SinkConfig, ObjectStore> storeFactory;
    private final LongSupplier clock;
    private final Map<TopicPartition, PartitionBuffer> buffers = new HashMap<>();
    private S3SinkConfig config;
    private ObjectStore store;
    private ErrantRecordReporter errantRecords;

    public S3ParquetSinkTask() {
        this(S3ObjectStore::new, System::currentTimeMillis);
    }

    /** For tests: another object store and clock. */
    S3ParquetSinkTask(Function<S3SinkConfig, ObjectStore> storeFactory, LongSupplier clock) {
        this.storeFactory = storeFactory;
        this.clock = clock;
    }

    @Override
    public String version() {
        return Version.get();
    }

    @Override
    public void start(Map<String, String> props) {
        config = new S3SinkConfig(props);
        store = storeFactory.apply(config);
        errantRecords = context != null ? context.errantRecordReporter() : null;
        log.info("S3 Parquet sink task writing to {} (template {}, max {} records, flush interval {} ms)",
                store.describe(config.prefix()), config.fileNameTemplate(), config.maxRecordsPerFile(),
                config.flushIntervalMs());
    }

    @Override
    public void open(Collection<TopicPartition> partitions) {
        for (TopicPartition partition : partitions) {
            buffers.computeIfAbsent(partition, p -> new PartitionBuffer(p, config));
        }
    }

    /** Buffer the records, roll batches that are full or old, and store the finished ones. */
    @Override
    public void put(Collection<SinkRecord> records) {
        long now = clock.getAsLong();
        for (SinkRecord record : records) {
            PartitionBuffer buffer = buffer(record);
            if (buffer.alreadyTaken(record)) {
                continue;
            }
            if (record.value() != null) { // tombstones (compacted topics) carry no row
                append(buffer, record, now);
            }
            buffer.markTaken(record);
        }
        rollOldBatches(now);
        storeFinishedObjects();
    }

    /** Store what is finished; throws (as the SinkTask contract says) when something could not be stored. */
    @Override
    public void flush(Map<TopicPartition, OffsetAndMetadata> currentOffsets) {
        rollOldBatches(clock.getAsLong());
        storeFinishedObjects();
    }

    /**
     * The offsets safe to commit: per partition, the first offset still only in memory, else everything
     * delivered. An upload failure here is logged, not thrown: the commit then simply stays behind it.
     */
    @Override
    public Map<TopicPartition, OffsetAndMetadata> preCommit(Map<TopicPartition, OffsetAndMetadata> currentOffsets) {
        try {
            flush(currentOffsets);
        } catch (RetriableException e) {
            log.warn("Committing only what is stored: {}", e.getMessage());
        }
        Map<TopicPartition, OffsetAndMetadata> committable = new HashMap<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> entry : currentOffsets.entrySet()) {
            PartitionBuffer buffer = buffers.get(entry.getKey());
            if (buffer == null) {
                continue;
            }
            long delivered = entry.getValue().offset();
            OptionalLong pending = buffer.firstPendingOffset();
            committable.put(entry.getKey(),
                    new OffsetAndMetadata(pending.isPresent() ? Math.min(pending.getAsLong(), delivered) : delivered));
        }
        return committable;
    }

    /** The partitions moved away or the task stops: drop their uncommitted records (they come again). */
    @Override
    public void close(Collection<TopicPartition> partitions) {
        for (TopicPartition partition : partitions) {
            PartitionBuffer buffer = buffers.remove(partition);
            if (buffer != null) {
                buffer.discard();
            }
        }
    }

    @Override
    public void stop() {
        buffers.values().forEach(PartitionBuffer::discard);
        buffers.clear();
        if (store != null) {
            store.close();
            store = null;
        }
    }

    private PartitionBuffer buffer(SinkRecord record) {
        TopicPartition partition = new TopicPartition(record.topic(), record.kafkaPartition());
        return buffers.computeIfAbsent(partition, p -> new PartitionBuffer(p, config));
    }

    private void append(PartitionBuffer buffer, SinkRecord record, long now) {
        try {
            buffer.append(record, now);
        } catch (DataException e) {
            if (errantRecords == null) {
                throw e;
            }
            // With errors.tolerance=none the reporter throws; otherwise the record goes to the DLQ/log.
            errantRecords.report(record, e);
        }
    }

    private void rollOldBatches(long now) {
        for (PartitionBuffer buffer : buffers.values()) {
            buffer.rollIfOlderThanInterval(now);
        }
    }

    private void storeFinishedObjects() {
        boolean stored = false;
        try {
            for (PartitionBuffer buffer : buffers.values()) {
                Deque<PartitionBuffer.PendingObject> finished = buffer.finished();
                while (!finished.isEmpty()) {
                    store(finished.peekFirst());
                    finished.removeFirst();
                    stored = true;
                }
            }
        } finally {
            if (stored && context != null) {
                context.requestCommit(); // narrow the window in which a stored object's offsets are uncommitted
            }
        }
    }

    private void store(PartitionBuffer.PendingObject object) {
        try {
            store.put(object.key(), object.content());
        } catch (RuntimeException e) {
            if (context != null) {
                context.timeout(UPLOAD_RETRY_BACKOFF_MS);
            }
            throw new RetriableException("cannot store " + store.describe(object.key()) + " (" + object.records()
                    + " records from offset " + object.startOffset() + "): " + e.getMessage(), e);
        }
        log.debug("Stored {} ({} records from offset {}, {} bytes)", store.describe(object.key()), object.records(),
                object.startOffset(), object.content().length);
    }
}
