package io.fraudlake.connect.s3;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.kafka.connect.data.Date;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Time;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.parquet.conf.ParquetConfiguration;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.RecordConsumer;
import org.apache.parquet.schema.MessageType;

/**
 * Writes a SinkRecord as one Parquet row in the column layout of {@link ParquetSchemas#toParquet} for
 * its {@link OutputLayout}. The caller checks beforehand that the record fits (schemas equal to this
 * instance's, values valid for them, a timestamp when one is written): a mismatch found half-way through
 * a row would corrupt the file.
 *
 * <p>The file's key-value metadata records where its rows came from (topic, partition, first and last
 * offset), so a reader can tell which offsets an object covers without reading its rows.
 */
final class SinkRecordWriteSupport extends WriteSupport<SinkRecord> {

    static final String META_TOPIC = "kafka.topic";
    static final String META_PARTITION = "kafka.partition";
    static final String META_START_OFFSET = "kafka.start_offset";
    static final String META_END_OFFSET = "kafka.end_offset";

    private final MessageType parquetSchema;
    private final OutputLayout layout;
    private RecordConsumer consumer;
    private SinkRecord first;
    private SinkRecord last;

    SinkRecordWriteSupport(MessageType parquetSchema, OutputLayout layout) {
        this.parquetSchema = parquetSchema;
        this.layout = layout;
    }

    @Override
    @SuppressWarnings("deprecation") // still abstract in parquet-java 1.18; the ParquetConfiguration one is used
    public WriteContext init(Configuration configuration) {
        return new WriteContext(parquetSchema, Map.of());
    }

    @Override
    public WriteContext init(ParquetConfiguration configuration) {
        return new WriteContext(parquetSchema, Map.of());
    }

    @Override
    public String getName() {
        return "fraudlake-s3-parquet-sink";
    }

    @Override
    public void prepareForWrite(RecordConsumer recordConsumer) {
        this.consumer = recordConsumer;
    }

    @Override
    public void write(SinkRecord record) {
        consumer.startMessage();
        int index;
        if (layout.envelope()) {
            index = writeEnvelope(record);
        } else {
            index = writeFields((Struct) record.value());
        }
        if (layout.kafkaMetadataColumns()) {
            writeKafkaColumns(record, index);
        }
        consumer.endMessage();
        if (first == null) {
            first = record;
        }
        last = record;
    }

    @Override
    public FinalizedWriteContext finalizeWrite() {
        Map<String, String> metadata = new HashMap<>();
        if (first != null) {
            metadata.put(META_TOPIC, first.topic());
            metadata.put(META_PARTITION, String.valueOf(first.kafkaPartition()));
            metadata.put(META_START_OFFSET, String.valueOf(first.kafkaOffset()));
            metadata.put(META_END_OFFSET, String.valueOf(last.kafkaOffset()));
        }
        return new FinalizedWriteContext(metadata);
    }

    /** One column per configured part, in order; returns the next column index. */
    private int writeEnvelope(SinkRecord record) {
        int index = 0;
        for (OutputLayout.Part part : layout.parts()) {
            Object value = switch (part) {
                case KEY -> record.key();
                case VALUE -> record.value();
                case OFFSET -> record.kafkaOffset();
                case TIMESTAMP -> record.timestamp();
            };
            if (value != null) {
                consumer.startField(part.column(), index);
                switch (part) {
                    case KEY -> writeValue(record.keySchema(), value);
                    case VALUE -> writeValue(record.valueSchema(), value);
                    case OFFSET, TIMESTAMP -> consumer.addLong((Long) value);
                }
                consumer.endField(part.column(), index);
            }
            index++;
        }
        return index;
    }

    /** The Struct's non-null fields as columns of the current message or group; returns the field count. */
    private int writeFields(Struct struct) {
        int index = 0;
        for (Field field : struct.schema().fields()) {
            Object fieldValue = struct.get(field);
            if (fieldValue != null) {
                consumer.startField(field.name(), index);
                writeValue(field.schema(), fieldValue);
                consumer.endField(field.name(), index);
            }
            index++;
        }
        return index;
    }

    private void writeValue(Schema schema, Object value) {
        String logical = schema.name();
        if (Timestamp.LOGICAL_NAME.equals(logical)) {
            consumer.addLong(Timestamp.fromLogical(schema, (java.util.Date) value));
            return;
        }
        if (Date.LOGICAL_NAME.equals(logical)) {
            consumer.addInteger(Date.fromLogical(schema, (java.util.Date) value));
            return;
        }
        if (Time.LOGICAL_NAME.equals(logical)) {
            consumer.addInteger(Time.fromLogical(schema, (java.util.Date) value));
            return;
        }
        switch (schema.type()) {
            case INT8, INT16, INT32 -> consumer.addInteger(((Number) value).intValue());
            case INT64 -> consumer.addLong((Long) value);
            case FLOAT32 -> consumer.addFloat((Float) value);
            case FLOAT64 -> consumer.addDouble((Double) value);
            case BOOLEAN -> consumer.addBoolean((Boolean) value);
            case STRING -> consumer.addBinary(Binary.fromString((String) value));
            case BYTES -> consumer.addBinary(bytes(value));
            case STRUCT -> {
                consumer.startGroup();
                writeFields((Struct) value);
                consumer.endGroup();
            }
            default -> throw new IllegalStateException("unmapped type " + schema.type()); // refused by ParquetSchemas
        }
    }
    private void writeKafkaColumns(SinkRecord record, int index) {
        consumer.startField(ParquetSchemas.KAFKA_PARTITION, index);
        consumer.addInteger(record.kafkaPartition());
        consumer.endField(ParquetSchemas.KAFKA_PARTITION, index);
        consumer.startField(ParquetSchemas.KAFKA_OFFSET, index + 1);
        consumer.addLong(record.kafkaOffset());
        consumer.endField(ParquetSchemas.KAFKA_OFFSET, index + 1);
        if (record.timestamp() != null) {
            consumer.startField(ParquetSchemas.KAFKA_TIMESTAMP, index + 2);
            consumer.addLong(record.timestamp());
            consumer.endField(ParquetSchemas.KAFKA_TIMESTAMP, index + 2);
        }
    }

    private static Binary bytes(Object value) {
        if (value instanceof byte[] array) {
            return Binary.fromConstantByteArray(array);
        }
        ByteBuffer buffer = ((ByteBuffer) value).duplicate();
        byte[] copy = new byte[buffer.remaining()];
        buffer.get(copy);
        return Binary.fromConstantByteArray(copy);
    }
}
