package io.fraudlake.connect.s3;

import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.parquet.conf.PlainParquetConfiguration;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.schema.MessageType;

/**
 * One Parquet object in the making: consecutive records of one topic-partition with one shape (schemas),
 * encoded as they arrive (columnar and compressed, so a batch costs far less memory than its records).
 */
final class ParquetBatch {

    private final TopicPartition partition;
    private final long startOffset;
    private final long openedAtMs;
    private final RecordShape shape;
    private final InMemoryOutputFile file = new InMemoryOutputFile();
    private final ParquetWriter<SinkRecord> writer;
    private int records;

    ParquetBatch(TopicPartition partition, long startOffset, long openedAtMs, RecordShape shape,
                 MessageType parquetSchema, CompressionCodecName codec, OutputLayout layout) {
        this.partition = partition;
        this.startOffset = startOffset;
        this.openedAtMs = openedAtMs;
        this.shape = shape;
        WriteSupport<SinkRecord> support = new SinkRecordWriteSupport(parquetSchema, layout);
        try {
            writer = new Builder(file, support)
                    .withConf(new PlainParquetConfiguration())
                    .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
                    .withCompressionCodec(codec)
                    .build();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open an in-memory Parquet writer", e);
        }
    }

    /** Encode one record; it must have this batch's shape and fit its schema (see SinkRecordWriteSupport). */
    void append(SinkRecord record) {
        try {
            writer.write(record);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode " + partition + "@" + record.kafkaOffset(), e);
        }
        records++;
    }

    /** Close the file and return its bytes; the batch is done afterwards. */
    byte[] finish() {
        try {
            writer.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot finish the Parquet file of " + partition + "@" + startOffset, e);
        }
        return file.toByteArray();
    }

    /** Drop the batch (its records will be delivered again), releasing the writer's buffers. */
    void discard() {
        try {
            writer.close();
        } catch (IOException | RuntimeException ignored) {
            // Nothing to keep: the bytes are thrown away either way.
        }
    }

    TopicPartition partition() {
        return partition;
    }

    long startOffset() {
        return startOffset;
    }

    long openedAtMs() {
        return openedAtMs;
    }

    RecordShape shape() {
        return shape;
    }

    int records() {
        return records;
    }

    private static final class Builder extends ParquetWriter.Builder<SinkRecord, Builder> {
        private final WriteSupport<SinkRecord> support;

        Builder(InMemoryOutputFile file, WriteSupport<SinkRecord> support) {
            super(file);
            this.support = support;
        }

        @Override
        protected Builder self() {
            return this;
        }

        @Override
        @SuppressWarnings("deprecation") // still abstract in parquet-java 1.18; the ParquetConfiguration one is used
        protected WriteSupport<SinkRecord> getWriteSupport(org.apache.hadoop.conf.Configuration conf) {
            return support;
        }

        @Override
        protected WriteSupport<SinkRecord> getWriteSupport(org.apache.parquet.conf.ParquetConfiguration conf) {
            return support;
        }
    }
}
