package io.fraudlake.connect.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.ConfigValue;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.junit.jupiter.api.Test;

class S3SinkConfigTest {

    private static Map<String, String> props(String... keyValues) {
        Map<String, String> props = new HashMap<>(Map.of("aws.s3.bucket.name", "lake"));
        for (int i = 0; i < keyValues.length; i += 2) {
            props.put(keyValues[i], keyValues[i + 1]);
        }
        return props;
    }

    @Test
    void defaultsWriteSnappyParquetWithTheDefaultTemplateToAws() {
        S3SinkConfig config = new S3SinkConfig(props());
        assertEquals(CompressionCodecName.SNAPPY, config.compression());
        assertEquals(S3SinkConfig.DEFAULT_FILE_NAME_TEMPLATE, config.fileNameTemplate().toString());
        assertNull(config.endpoint());
        assertFalse(config.pathStyleAccess());
        assertNull(config.accessKeyId());
        assertEquals(0, config.maxRecordsPerFile());
        // Aiven's defaults: the value, in an envelope.
        assertEquals(new OutputLayout(List.of(OutputLayout.Part.VALUE), true, false), config.layout());
    }

    @Test
    void anEndpointTurnsOnPathStyleUnlessSaidOtherwise() {
        assertTrue(new S3SinkConfig(props("aws.s3.endpoint", "http://127.0.0.1:9000")).pathStyleAccess());
        assertFalse(new S3SinkConfig(props("aws.s3.endpoint", "http://127.0.0.1:9000",
                "aws.s3.path.style.access.enabled", "false")).pathStyleAccess());
    }

    @Test
    void invalidValuesNameTheirKey() {
        Map<String, String> cases = Map.of(
                "aws.s3.endpoint", "minio:9000",
                "file.max.records", "-1",
                "file.compression.type", "lz4",
                "format.output.type", "csv",
                "format.output.fields", "value,headers",
                "file.name.template", "{{topic}}.parquet");
        cases.forEach((key, value) -> {
            ConfigException error = assertThrows(ConfigException.class, () -> new S3SinkConfig(props(key, value)));
            assertTrue(error.getMessage().contains(key), error.getMessage());
        });
        ConfigException flatWithOffset = assertThrows(ConfigException.class, () -> new S3SinkConfig(
                props("format.output.envelope", "false", "format.output.fields", "value,offset")));
        assertTrue(flatWithOffset.getMessage().contains("format.output.fields"), flatWithOffset.getMessage());
        ConfigException missing = assertThrows(ConfigException.class, () -> new S3SinkConfig(Map.of()));
        assertTrue(missing.getMessage().contains("aws.s3.bucket.name"), missing.getMessage());
    }

    @Test
    void credentialsComeInPairsAndSecretsAreNotEchoed() {
        ConfigException error = assertThrows(ConfigException.class,
                () -> new S3SinkConfig(props("aws.access.key.id", "AKIA-EXAMPLE")));
        assertTrue(error.getMessage().contains("aws.secret.access.key"), error.getMessage());
        assertFalse(error.getMessage().contains("AKIA-EXAMPLE"), error.getMessage());

        Map<String, List<String>> errors = new S3ParquetSinkConnector()
                .validate(props("aws.secret.access.key", "s3cr3t"))
                .configValues().stream()
                .collect(Collectors.toMap(ConfigValue::name, ConfigValue::errorMessages));
        assertEquals(1, errors.get("aws.access.key.id").size());
        assertEquals(List.of(), errors.get("aws.secret.access.key"));

        // A key with its own error does not hide the two-key rules of the others.
        Map<String, List<String>> both = new S3ParquetSinkConnector()
                .validate(props("aws.secret.access.key", "s3cr3t", "file.name.template", "{{topic}}"))
                .configValues().stream()
                .collect(Collectors.toMap(ConfigValue::name, ConfigValue::errorMessages));
        assertEquals(1, both.get("aws.access.key.id").size());
        assertEquals(1, both.get("file.name.template").size());
    }

    @Test
    void configProviderReferencesArePasswordsUntilTheWorkerResolvesThem() {
        S3SinkConfig config = new S3SinkConfig(props(
                "aws.access.key.id", "${secrets:kafka/lake:AWS_ACCESS_KEY_ID}",
                "aws.secret.access.key", "${secrets:kafka/lake:AWS_SECRET_ACCESS_KEY}"));
        assertEquals("[hidden]", config.secretAccessKey().toString());
        assertEquals("${secrets:kafka/lake:AWS_SECRET_ACCESS_KEY}", config.secretAccessKey().value());
    }

    @Test
    void topicIdsGiveEachTopicItsIncarnationAndATemplateWithTopicIdNeedsOnePerTopic() {
        String template = "{{topic}}/{{topic_id}}/{{partition}}-{{start_offset}}.parquet";
        S3SinkConfig config = new S3SinkConfig(props("file.name.template", template, "topics", "a,b",
                "topic.ids", "a=idA,b=idB"));
        assertEquals("idA", config.topicId("a"));
        assertEquals("idB", config.topicId("b"));
        ConfigException missing = assertThrows(ConfigException.class, () -> new S3SinkConfig(props(
                "file.name.template", template, "topics", "a,b", "topic.ids", "a=idA")));
        assertTrue(missing.getMessage().contains("topic.ids") && missing.getMessage().contains("b"),
                missing.getMessage());
        ConfigException malformed = assertThrows(ConfigException.class,
                () -> new S3SinkConfig(props("topic.ids", "a")));
        assertTrue(malformed.getMessage().contains("topic.ids"), malformed.getMessage());
    }
}
