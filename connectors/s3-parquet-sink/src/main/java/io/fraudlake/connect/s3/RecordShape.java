package io.fraudlake.connect.s3;

import org.apache.kafka.connect.data.Schema;

/**
 * The schemas that decide a record's Parquet schema: the value's, and the key's when the key is written.
 * Records of one Parquet object share a shape; a new shape starts a new object.
 */
record RecordShape(Schema key, Schema value) {

    static RecordShape of(org.apache.kafka.connect.sink.SinkRecord record, OutputLayout layout) {
        return new RecordShape(layout.writesKey() ? record.keySchema() : null, record.valueSchema());
    }
}
