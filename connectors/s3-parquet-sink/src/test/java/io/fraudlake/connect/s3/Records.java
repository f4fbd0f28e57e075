package io.fraudlake.connect.s3;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.FileMetaData;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.DelegatingSeekableInputStream;
import org.apache.parquet.io.InputFile;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.io.SeekableInputStream;
import org.apache.parquet.schema.MessageType;

/** Test data: transaction-like records as the worker's JsonConverter delivers them, and a Parquet reader. */
final class Records {

    static final String TRANSACTION_SCHEMA = """
            {"type": "struct", "name": "fraudlake.transaction", "optional": false, "fields": [
              {"field": "txn_id", "type": "string", "optional": false},
              {"field": "card_id", "type": "string", "optional": false},
              {"field": "amount", "type": "double", "optional": false},
              {"field": "mcc", "type": "int32", "optional": true},
              {"field": "is_fraud", "type": "boolean", "optional": false},
              {"field": "event_ts", "type": "int64", "optional": false,
               "name": "org.apache.kafka.connect.data.Timestamp", "version": 1}
            ]}""";

    private static final JsonConverter CONVERTER = converter();

    private Records() {}

    static SinkRecord transaction(String topic, int partition, long offset) {
        String mcc = offset % 3 == 0 ? "null" : Long.toString(5000 + offset);
        String payload = String.format(
                "{\"txn_id\": \"t%04d\", \"card_id\": \"card-%d\", \"amount\": %s, \"mcc\": %s, \"is_fraud\": %s, "
                        + "\"event_ts\": %d}",
                offset, offset % 7, offset * 1.5, mcc, offset % 10 == 0, 1_700_000_000_000L + offset);
        return fromJson(topic, partition, offset, "{\"schema\": " + TRANSACTION_SCHEMA + ", \"payload\": " + payload + "}");
    }

    static SinkRecord fromJson(String topic, int partition, long offset, String json) {
        SchemaAndValue value = CONVERTER.toConnectData(topic, json.getBytes(StandardCharsets.UTF_8));
        return new SinkRecord(topic, partition, null, null, value.schema(), value.value(), offset,
                1_700_000_000_000L + offset, org.apache.kafka.common.record.TimestampType.CREATE_TIME);
    }

    static List<SinkRecord> transactions(String topic, int partition, long from, long to) {
        List<SinkRecord> records = new ArrayList<>();
        for (long offset = from; offset < to; offset++) {
            records.add(transaction(topic, partition, offset));
        }
        return records;
    }

    /** A Parquet file's schema, key-value metadata and rows. */
    record ParquetFile(MessageType schema, Map<String, String> metadata, List<Group> rows) {}

    static ParquetFile readParquet(byte[] bytes) throws IOException {
        try (ParquetFileReader reader = ParquetFileReader.open(new BytesInputFile(bytes))) {
            FileMetaData meta = reader.getFooter().getFileMetaData();
            MessageType schema = meta.getSchema();
            List<Group> rows = new ArrayList<>();
            PageReadStore pages;
            while ((pages = reader.readNextRowGroup()) != null) {
                RecordReader<Group> rowReader =
                        new ColumnIOFactory().getColumnIO(schema).getRecordReader(pages, new GroupRecordConverter(schema));
                for (long i = 0; i < pages.getRowCount(); i++) {
                    rows.add(rowReader.read());
                }
            }
            return new ParquetFile(schema, meta.getKeyValueMetaData(), rows);
        }
    }

    private static JsonConverter converter() {
        JsonConverter converter = new JsonConverter();
        converter.configure(Map.of("schemas.enable", "true"), false);
        return converter;
    }

    private static final class BytesInputFile implements InputFile {
        private final byte[] bytes;

        BytesInputFile(byte[] bytes) {
            this.bytes = bytes;
        }

        @Override
        public long getLength() {
            return bytes.length;
        }

        @Override
        public SeekableInputStream newStream() {
            SeekableBytes in = new SeekableBytes(bytes);
            return new DelegatingSeekableInputStream(in) {
                @Override
                public long getPos() {
                    return in.position();
                }

                @Override
                public void seek(long newPos) {
                    in.seek((int) newPos);
                }
            };
        }
    }

    private static final class SeekableBytes extends ByteArrayInputStream {
        SeekableBytes(byte[] bytes) {
            super(bytes);
        }

        int position() {
            return pos;
        }

        void seek(int position) {
            pos = position;
        }
    }
}
