package io.fraudlake.connect.s3;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.parquet.example.data.Group;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class S3ParquetSinkTaskTest {

    private static final String TOPIC = "fraudlake.ns.demo.transactions";
    private static final TopicPartition P0 = new TopicPartition(TOPIC, 0);

    /** A bucket in memory that can be told to fail. */
    static final class MemoryStore implements ObjectStore {
        final Map<String, byte[]> objects = new TreeMap<>();
        final List<String> puts = new ArrayList<>();
        boolean failing;

        @Override
        public void put(String key, byte[] content) {
            if (failing) {
                throw new IllegalStateException("S3 is down");
            }
            objects.put(key, content);
            puts.add(key);
        }

        @Override
        public String describe(String key) {
            return "memory://" + key;
        }

        @Override
        public void close() {}
    }

    private final MemoryStore store = new MemoryStore();
    private final AtomicLong now = new AtomicLong(1_000_000);

    private S3ParquetSinkTask startTask(Map<String, String> extra) {
        Map<String, String> props = new HashMap<>(Map.of(
                "aws.s3.bucket.name", "lake",
                "aws.s3.prefix", "p/raw/",
                "file.max.records", "50",
                "file.flush.interval.ms", "10000",
                "format.output.envelope", "false"));
        props.putAll(extra);
        S3ParquetSinkTask task = new S3ParquetSinkTask(config -> store, now::get);
        task.start(props);
        task.open(List.of(P0));
        return task;
    }

    private static Map<TopicPartition, OffsetAndMetadata> delivered(long nextOffset) {
        return Map.of(P0, new OffsetAndMetadata(nextOffset));
    }

    @Test
    void fullBatchesBecomeObjectsNamedByStartOffsetAndOnlyStoredOffsetsCommit() throws IOException {
        S3ParquetSinkTask task = startTask(Map.of());
        task.put(Records.transactions(TOPIC, 0, 0, 120));

        assertEquals(List.of("p/raw/" + TOPIC + "-0-0.parquet", "p/raw/" + TOPIC + "-0-50.parquet"),
                List.copyOf(store.objects.keySet()));
        // 100..119 are only in memory: the commit stops at 100.
        assertEquals(delivered(100), task.preCommit(delivered(120)));

        Records.ParquetFile second = Records.readParquet(store.objects.get("p/raw/" + TOPIC + "-0-50.parquet"));
        assertEquals(50, second.rows().size());
        Group first = second.rows().get(0);
        assertEquals("t0050", first.getString("txn_id", 0));
        assertEquals(75.0, first.getDouble("amount", 0));
        assertEquals(1_700_000_000_050L, first.getLong("event_ts", 0));
        assertEquals(5050, second.rows().get(0).getInteger("mcc", 0));
        assertEquals(0, second.rows().get(1).getFieldRepetitionCount("mcc")); // 51 % 3 == 0: null
        assertEquals(Map.of("kafka.topic", TOPIC, "kafka.partition", "0", "kafka.start_offset", "50",
                "kafka.end_offset", "99"), second.metadata().entrySet().stream()
                .filter(e -> e.getKey().startsWith("kafka."))
                .collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue)));
    }

    @Test
    void anOldBatchRollsOnTheFlushIntervalAndThenEverythingCommits() {
        S3ParquetSinkTask task = startTask(Map.of());
        task.put(Records.transactions(TOPIC, 0, 0, 20));
        assertEquals(delivered(0), task.preCommit(delivered(20)));

        now.addAndGet(10_000);
        task.put(List.of()); // the worker calls put after every poll, also with nothing new
        assertEquals(List.of("p/raw/" + TOPIC + "-0-0.parquet"), List.copyOf(store.objects.keySet()));
        assertEquals(delivered(20), task.preCommit(delivered(20)));
    }

    @Test
    void aReplayAfterACrashRewritesTheSameObjects() {
        S3ParquetSinkTask before = startTask(Map.of());
        before.put(Records.transactions(TOPIC, 0, 0, 70));
        Map<String, byte[]> firstRun = new TreeMap<>(store.objects);
        before.stop(); // killed before the offsets were committed: Kafka still has offset 0

        S3ParquetSinkTask after = startTask(Map.of());
        after.put(Records.transactions(TOPIC, 0, 0, 100));

        assertEquals(List.of("p/raw/" + TOPIC + "-0-0.parquet", "p/raw/" + TOPIC + "-0-50.parquet"),
                List.copyOf(store.objects.keySet()));
        assertArrayEquals(firstRun.get("p/raw/" + TOPIC + "-0-0.parquet"), store.objects.get("p/raw/" + TOPIC + "-0-0.parquet"));
        assertEquals(delivered(100), after.preCommit(delivered(100)));
    }

    @Test
    void aFailedUploadIsRetriedAndRedeliveredRecordsAreNotBufferedTwice() throws IOException {
        S3ParquetSinkTask task = startTask(Map.of());
        store.failing = true;
        List<SinkRecord> batch = Records.transactions(TOPIC, 0, 0, 60);
        RetriableException error = assertThrows(RetriableException.class, () -> task.put(batch));
        assertTrue(error.getMessage().contains("memory://p/raw/" + TOPIC + "-0-0.parquet"), error.getMessage());
        assertEquals(delivered(0), task.preCommit(delivered(0)));

        store.failing = false;
        task.put(batch); // the framework re-delivers the same batch after a RetriableException
        assertEquals(50, Records.readParquet(store.objects.get("p/raw/" + TOPIC + "-0-0.parquet")).rows().size());
        assertEquals(delivered(50), task.preCommit(delivered(60)));
    }

    @Test
    void closedPartitionsDropTheirBuffersAndASchemaChangeStartsANewObject() {
        S3ParquetSinkTask task = startTask(Map.of("file.max.records", "0"));
        task.put(Records.transactions(TOPIC, 0, 0, 10));
        SinkRecord other = Records.fromJson(TOPIC, 0, 10,
                "{\"schema\": {\"type\": \"struct\", \"fields\": [{\"field\": \"txn_id\", \"type\": \"string\"}]},"
                        + " \"payload\": {\"txn_id\": \"x\"}}");
        task.put(List.of(other));
        assertEquals(List.of("p/raw/" + TOPIC + "-0-0.parquet"), List.copyOf(store.objects.keySet()));
        assertEquals(delivered(10), task.preCommit(delivered(11)));

        task.close(List.of(P0));
        assertEquals(Map.of(), task.preCommit(delivered(11)));
    }

    @Test
    void recordsWithoutASchemaFailNamingTheRecord() {
        S3ParquetSinkTask task = startTask(Map.of());
        SinkRecord schemaless = new SinkRecord(TOPIC, 0, null, null, null, Map.of("txn_id", "x"), 7);
        DataException error = assertThrows(DataException.class, () -> task.put(List.of(schemaless)));
        assertTrue(error.getMessage().contains(TOPIC + "-0@7"), error.getMessage());
        assertTrue(error.getMessage().contains("schemas.enable=true"), error.getMessage());
    }

    @Test
    void theEnvelopeCarriesValueOffsetAndTimestampAsAivenWritesThem() throws IOException {
        S3ParquetSinkTask task = startTask(Map.of(
                "format.output.envelope", "true", "format.output.fields", "value,offset,timestamp"));
        task.put(Records.transactions(TOPIC, 0, 0, 50));
        Group row = Records.readParquet(store.objects.get("p/raw/" + TOPIC + "-0-0.parquet")).rows().get(7);
        assertEquals("t0007", row.getGroup("value", 0).getString("txn_id", 0));
        assertEquals(7L, row.getLong("offset", 0));
        assertEquals(1_700_000_000_007L, row.getLong("timestamp", 0));
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "gzip", "snappy", "zstd"})
    void everyCompressionTypeWritesReadableParquet(String compression) throws IOException {
        S3ParquetSinkTask task = startTask(Map.of("file.compression.type", compression));
        task.put(Records.transactions(TOPIC, 0, 0, 50));
        Records.ParquetFile file = Records.readParquet(store.objects.get("p/raw/" + TOPIC + "-0-0.parquet"));
        assertEquals(50, file.rows().size());
        assertEquals("t0049", file.rows().get(49).getString("txn_id", 0));
    }

    @Test
    void kafkaMetadataColumnsCarryPartitionOffsetAndTimestamp() throws IOException {
        S3ParquetSinkTask task = startTask(Map.of("format.output.kafka.metadata.columns", "true"));
        task.put(Records.transactions(TOPIC, 0, 0, 50));
        Group row = Records.readParquet(store.objects.get("p/raw/" + TOPIC + "-0-0.parquet")).rows().get(7);
        assertEquals(0, row.getInteger("_kafka_partition", 0));
        assertEquals(7L, row.getLong("_kafka_offset", 0));
        assertEquals(1_700_000_000_007L, row.getLong("_kafka_timestamp", 0));
    }
}
