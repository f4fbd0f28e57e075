package io.fraudlake.connect.s3;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.OptionalLong;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.data.ConnectSchema;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.parquet.schema.MessageType;

/**
 * The not-yet-committed records of one topic-partition: an open Parquet batch plus finished objects
 * waiting for upload, oldest first.
 *
 * <p>Batches close ("roll") at {@code file.max.records}, when the record schemas change, and when they
 * are older than {@code file.flush.interval.ms}. Record-count and schema rolls depend only on the
 * records, so a replay from the same offset reproduces the same object names and contents.
 */
final class PartitionBuffer {

    /** A finished object: its name, its first offset and its bytes. */
    record PendingObject(String key, long startOffset, int records, byte[] content) {}

    private final TopicPartition partition;
    private final S3SinkConfig config;
    private final Deque<PendingObject> finished = new ArrayDeque<>();
    private ParquetBatch open;
    /** Records below this offset were already taken; the framework redelivers a batch after a RetriableException. */
    private long nextOffset = -1;

    PartitionBuffer(TopicPartition partition, S3SinkConfig config) {
        this.partition = partition;
        this.config = config;
    }

    /** Whether {@code record} was already taken (a redelivery). */
    boolean alreadyTaken(SinkRecord record) {
        return record.kafkaOffset() < nextOffset;
    }

    /** Note that {@code record} is dealt with (buffered, skipped or reported as errant). */
    void markTaken(SinkRecord record) {
        nextOffset = record.kafkaOffset() + 1;
    }

    /**
     * Add {@code record} to the open batch (opening one if needed), rolling by shape and record count.
     *
     * @throws DataException naming the record when it cannot be written as a Parquet row; nothing is
     *     buffered then
     */
    void append(SinkRecord record, long nowMs) {
        OutputLayout layout = config.layout();
        RecordShape shape = RecordShape.of(record, layout);
        MessageType newSchema = null;
        try {
            if (open == null || !open.shape().equals(shape)) {
                newSchema = ParquetSchemas.toParquet(shape.key(), shape.value(), layout);
            }
            requireFits(record, layout);
        } catch (DataException e) {
            throw new DataException(where(record) + ": " + e.getMessage(), e);
        }
        if (newSchema != null) {
            roll();
            open = new ParquetBatch(partition, record.kafkaOffset(), nowMs, shape, newSchema, config.compression(),
                    layout);
        }
        open.append(record);
        int maxRecords = config.maxRecordsPerFile();
        if (maxRecords > 0 && open.records() >= maxRecords) {
            roll();
        }
    }

    /** Close the open batch if its first record arrived {@code file.flush.interval.ms} or more ago. */
    void rollIfOlderThanInterval(long nowMs) {
        long interval = config.flushIntervalMs();
        if (open != null && interval > 0 && nowMs - open.openedAtMs() >= interval) {
            roll();
        }
    }

    /** Finished objects waiting for upload, oldest first (remove them as they are stored). */
    Deque<PendingObject> finished() {
        return finished;
    }

    /** The first offset not yet stored in S3, if any record is still only in memory. */
    OptionalLong firstPendingOffset() {
        if (!finished.isEmpty()) {
            return OptionalLong.of(finished.peekFirst().startOffset());
        }
        return open != null ? OptionalLong.of(open.startOffset()) : OptionalLong.empty();
    }

    /** Drop everything buffered: the records will be delivered again from the last committed offset. */
    void discard() {
        if (open != null) {
            open.discard();
            open = null;
        }
        finished.clear();
        nextOffset = -1;
    }

    private void roll() {
        if (open == null) {
            return;
        }
        String key = config.prefix() + config.fileNameTemplate()
                .render(partition.topic(), config.topicId(partition.topic()), partition.partition(), open.startOffset());
        finished.addLast(new PendingObject(key, open.startOffset(), open.records(), open.finish()));
        open = null;
    }

    /** The values fit the (already mapped) schemas, so the row cannot fail half-way through. */
    private static void requireFits(SinkRecord record, OutputLayout layout) {
        ConnectSchema.validateValue(record.valueSchema(), record.value()); // required fields, nested Structs
        if (layout.writesKey()) {
            ConnectSchema.validateValue(record.keySchema(), record.key());
        }
        if (layout.envelope() && layout.parts().contains(OutputLayout.Part.TIMESTAMP) && record.timestamp() == null) {
            throw new DataException("the record has no timestamp, and format.output.fields lists timestamp");
        }
    }

    private String where(SinkRecord record) {
        return "record " + partition + "@" + record.kafkaOffset();
    }
}
