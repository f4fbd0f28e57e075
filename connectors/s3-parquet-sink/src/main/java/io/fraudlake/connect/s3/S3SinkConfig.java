package io.fraudlake.connect.s3;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigDef.Width;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.types.Password;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;

/**
 * The connector's settings. Keys and meanings follow Aiven's S3 sink
 * ({@code io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector}), so a deployment can swap that
 * connector in by changing only {@code connector.class}; {@link #KAFKA_METADATA_COLUMNS} and
 * {@link #FILE_FLUSH_INTERVAL_MS} are this connector's own (Aiven ignores unknown keys).
 *
 * <p>Invalid values raise {@link ConfigException}s that name the key; {@link #crossFieldProblems} reports
 * the rules that involve two keys, for {@code Connector.validate} and the REST API.
 */
public final class S3SinkConfig extends AbstractConfig {

    public static final String AWS_S3_BUCKET = "aws.s3.bucket.name";
    public static final String AWS_S3_PREFIX = "aws.s3.prefix";
    public static final String AWS_S3_ENDPOINT = "aws.s3.endpoint";
    public static final String AWS_S3_REGION = "aws.s3.region";
    public static final String AWS_S3_PATH_STYLE = "aws.s3.path.style.access.enabled";
    public static final String AWS_ACCESS_KEY_ID = "aws.access.key.id";
    public static final String AWS_SECRET_ACCESS_KEY = "aws.secret.access.key";
    public static final String FILE_NAME_TEMPLATE = "file.name.template";
    public static final String TOPIC_IDS = "topic.ids";
    /** Kafka Connect's own key: the topics a sink connector consumes. */
    public static final String TOPICS = "topics";
    public static final String FILE_MAX_RECORDS = "file.max.records";
    public static final String FILE_FLUSH_INTERVAL_MS = "file.flush.interval.ms";
    public static final String FILE_COMPRESSION_TYPE = "file.compression.type";
    public static final String FORMAT_OUTPUT_TYPE = "format.output.type";
    public static final String FORMAT_OUTPUT_FIELDS = "format.output.fields";
    public static final String FORMAT_OUTPUT_ENVELOPE = "format.output.envelope";
    public static final String KAFKA_METADATA_COLUMNS = "format.output.kafka.metadata.columns";

    public static final String DEFAULT_FILE_NAME_TEMPLATE = "{{topic}}-{{partition}}-{{start_offset}}.parquet";

    private static final String S3_GROUP = "S3";
    private static final String FILE_GROUP = "File";
    private static final String FORMAT_GROUP = "Format";

    /** Parquet column codecs by their {@code file.compression.type} names. */
    private static final Map<String, CompressionCodecName> CODECS = codecs();

    public static final ConfigDef CONFIG_DEF = configDef();

    private final FileNameTemplate fileNameTemplate;
    private final OutputLayout layout;
    private final Map<String, String> topicIds;

    /** Parse and check {@code props}; throws ConfigException naming the key of the first problem. */
    public S3SinkConfig(Map<String, String> props) {
        super(CONFIG_DEF, props);
        fileNameTemplate = FileNameTemplate.parse(getString(FILE_NAME_TEMPLATE));
        topicIds = parseTopicIds(getList(TOPIC_IDS));
        Map<String, Object> checked = new LinkedHashMap<>(values());
        if (props.containsKey(TOPICS)) {
            checked.put(TOPICS, props.get(TOPICS));
        }
        List<KeyProblem> problems = crossFieldProblems(checked);
        if (!problems.isEmpty()) {
            throw problems.get(0).asException();
        }
        layout = new OutputLayout(OutputLayout.parseParts(getList(FORMAT_OUTPUT_FIELDS)),
                getBoolean(FORMAT_OUTPUT_ENVELOPE), getBoolean(KAFKA_METADATA_COLUMNS));
    }

    public String bucket() {
        return getString(AWS_S3_BUCKET);
    }

    /** Prepended to every object name as is (give it a trailing '/' for a folder). */
    public String prefix() {
        return getString(AWS_S3_PREFIX);
    }

    /** Endpoint override (MinIO, other S3-compatible stores); null for AWS S3. */
    public URI endpoint() {
        String endpoint = getString(AWS_S3_ENDPOINT);
        return endpoint == null || endpoint.isBlank() ? null : URI.create(endpoint.trim());
    }

    public String region() {
        return getString(AWS_S3_REGION);
    }

    /** Path-style addressing: as configured, else on exactly when an endpoint override is set. */
    public boolean pathStyleAccess() {
        Boolean configured = getBoolean(AWS_S3_PATH_STYLE);
        return configured != null ? configured : endpoint() != null;
    }

    /** Null when unset: the AWS default credentials chain (environment, IRSA web identity, profile). */
    public Password accessKeyId() {
        return getPassword(AWS_ACCESS_KEY_ID);
    }

    public Password secretAccessKey() {
        return getPassword(AWS_SECRET_ACCESS_KEY);
    }

    public FileNameTemplate fileNameTemplate() {
        return fileNameTemplate;
    }

    /** The incarnation (Kafka topic id) of {@code topic} from {@code topic.ids}; null when not given. */
    public String topicId(String topic) {
        return topicIds.get(topic);
    }

    /**
     * {@code topic.ids} entries {@code <topic>=<id>} as a map.
     *
     * @throws IllegalArgumentException naming an entry without '=', with an empty side, or a topic twice
     */
    static Map<String, String> parseTopicIds(List<String> entries) {
        Map<String, String> ids = new LinkedHashMap<>();
        for (String entry : entries == null ? List.<String>of() : entries) {
            int eq = entry.indexOf('=');
            String topic = eq < 0 ? "" : entry.substring(0, eq).trim();
            String id = eq < 0 ? "" : entry.substring(eq + 1).trim();
            if (topic.isEmpty() || id.isEmpty()) {
                throw new IllegalArgumentException("entry '" + entry + "' is not <topic>=<topic id>");
            }
            if (ids.put(topic, id) != null) {
                throw new IllegalArgumentException("topic '" + topic + "' is listed twice");
            }
        }
        return ids;
    }

    /** 0: no record limit per file. */
    public int maxRecordsPerFile() {
        return getInt(FILE_MAX_RECORDS);
    }

    /** 0: files are not rolled by age. */
    public long flushIntervalMs() {
        return getLong(FILE_FLUSH_INTERVAL_MS);
    }

    public CompressionCodecName compression() {
        return CODECS.get(getString(FILE_COMPRESSION_TYPE).toLowerCase(Locale.ROOT));
    }

    /** Which record parts become which columns (format.output.fields/envelope, Kafka metadata columns). */
    public OutputLayout layout() {
        return layout;
    }

    /** A rule broken by the value of {@code key} (values are not repeated: they may be secrets). */
    record KeyProblem(String key, String message) {
        ConfigException asException() {
            return new ConfigException("Invalid configuration " + key + ": " + message);
        }
    }

    /**
     * The rules that involve two keys; each problem names the key to fix.
     *
     * @param parsed parsed values by key (as {@code ConfigDef.parse} makes them); a rule whose keys are
     *     absent (because their own values are invalid) is skipped
     */
    @SuppressWarnings("unchecked")
    static List<KeyProblem> crossFieldProblems(Map<String, ?> parsed) {
        List<KeyProblem> problems = new ArrayList<>();
        if (parsed.containsKey(AWS_ACCESS_KEY_ID) && parsed.containsKey(AWS_SECRET_ACCESS_KEY)) {
            boolean hasKeyId = parsed.get(AWS_ACCESS_KEY_ID) != null;
            boolean hasSecret = parsed.get(AWS_SECRET_ACCESS_KEY) != null;
            if (hasKeyId != hasSecret) {
                String missing = hasKeyId ? AWS_SECRET_ACCESS_KEY : AWS_ACCESS_KEY_ID;
                String present = hasKeyId ? AWS_ACCESS_KEY_ID : AWS_SECRET_ACCESS_KEY;
                problems.add(new KeyProblem(missing, "must be set together with " + present
                        + " (or leave both unset for the AWS default credentials chain)"));
            }
        }
        if (parsed.get(FORMAT_OUTPUT_ENVELOPE) instanceof Boolean envelope && !envelope
                && parsed.get(FORMAT_OUTPUT_FIELDS) instanceof List<?> fields
                && !List.of(OutputLayout.Part.VALUE).equals(OutputLayout.parseParts((List<String>) fields))) {
            problems.add(new KeyProblem(FORMAT_OUTPUT_FIELDS, "must be exactly 'value' when " + FORMAT_OUTPUT_ENVELOPE
                    + " is false (the value's fields become the columns)"));
        }
        problems.addAll(topicIdProblems(parsed));
        return problems;
    }

    /** With {{topic_id}} in the template, every consumed topic needs its id (else its names are unknown). */
    @SuppressWarnings("unchecked")
    private static List<KeyProblem> topicIdProblems(Map<String, ?> parsed) {
        if (!(parsed.get(FILE_NAME_TEMPLATE) instanceof String template)
                || !(parsed.get(TOPIC_IDS) instanceof List<?> entries) || !(parsed.get(TOPICS) instanceof String topics)) {
            return List.of();
        }
        Map<String, String> ids;
        try {
            if (!FileNameTemplate.parse(template).usesTopicId()) {
                return List.of();
            }
            ids = parseTopicIds((List<String>) entries);
        } catch (IllegalArgumentException e) {
            return List.of(); // the key's own validator reports it
        }
        List<String> missing = new ArrayList<>();
        for (String topic : topics.split(",")) {
            if (!topic.isBlank() && !ids.containsKey(topic.trim())) {
                missing.add(topic.trim());
            }
        }
        return missing.isEmpty() ? List.of() : List.of(new KeyProblem(TOPIC_IDS, "has no id for topic(s) " + missing
                + " but " + FILE_NAME_TEMPLATE + " names objects by {{topic_id}}"));
    }

    private static ConfigDef configDef() {
        ConfigDef def = new ConfigDef();
        int s3 = 0;
        int file = 0;
        int format = 0;
        def.define(AWS_S3_BUCKET, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(),
                Importance.HIGH, "Bucket the Parquet objects are written to (must exist).",
                S3_GROUP, ++s3, Width.LONG, "Bucket");
        def.define(AWS_S3_PREFIX, Type.STRING, "", Importance.MEDIUM,
                "Prefix put before every object name as is, e.g. 'lake/raw/'.",
                S3_GROUP, ++s3, Width.LONG, "Prefix");
        def.define(AWS_S3_ENDPOINT, Type.STRING, null, new HttpUrl(), Importance.MEDIUM,
                "S3 endpoint URL for MinIO and other S3-compatible stores, e.g. http://minio:9000; unset: AWS S3.",
                S3_GROUP, ++s3, Width.LONG, "Endpoint");
        def.define(AWS_S3_REGION, Type.STRING, "us-east-1", new ConfigDef.NonEmptyString(), Importance.MEDIUM,
                "Region of the bucket (request signing); any value for MinIO.",
                S3_GROUP, ++s3, Width.SHORT, "Region");
        def.define(AWS_S3_PATH_STYLE, Type.BOOLEAN, null, Importance.LOW,
                "Path-style addressing (http://host/bucket/key) instead of virtual hosts; unset: true exactly when "
                        + AWS_S3_ENDPOINT + " is set.",
                S3_GROUP, ++s3, Width.SHORT, "Path-style access");
        def.define(AWS_ACCESS_KEY_ID, Type.PASSWORD, null, Importance.MEDIUM,
                "Access key id; may be a config provider reference such as ${secrets:ns/name:key}. Unset (with "
                        + AWS_SECRET_ACCESS_KEY + "): the AWS default credentials chain, e.g. IRSA.",
                S3_GROUP, ++s3, Width.MEDIUM, "Access key id");
        def.define(AWS_SECRET_ACCESS_KEY, Type.PASSWORD, null, Importance.MEDIUM,
                "Secret access key; may be a config provider reference. Set together with " + AWS_ACCESS_KEY_ID + ".",
                S3_GROUP, ++s3, Width.MEDIUM, "Secret access key");
        def.define(FILE_NAME_TEMPLATE, Type.STRING, DEFAULT_FILE_NAME_TEMPLATE, new TemplateValidator(),
                Importance.MEDIUM,
                "Object name after the prefix. Variables {{topic}}, {{partition}}, {{start_offset}} (all required), "
                        + "{{topic_id}} (optional, from " + TOPIC_IDS + "), "
                        + "each optionally with :padding=true (zero-padded to 10 and 20 digits). A file is named by "
                        + "its first record, so a replay after a crash overwrites the same object.",
                FILE_GROUP, ++file, Width.LONG, "File name template");
        def.define(TOPIC_IDS, Type.LIST, "", new TopicIds(), Importance.MEDIUM,
                "This connector's own: <topic>=<topic id> per topic, the value of {{topic_id}} in "
                        + FILE_NAME_TEMPLATE + " (Kafka's topic id: a recreated topic gets a new one, so its "
                        + "objects never overwrite the old incarnation's).",
                FILE_GROUP, ++file, Width.LONG, "Topic ids");
        def.define(FILE_MAX_RECORDS, Type.INT, 0, ConfigDef.Range.atLeast(0), Importance.MEDIUM,
                "Records per Parquet object at most; 0 for no limit.",
                FILE_GROUP, ++file, Width.SHORT, "Max records per file");
        def.define(FILE_FLUSH_INTERVAL_MS, Type.LONG, 60_000L, ConfigDef.Range.atLeast(0), Importance.MEDIUM,
                "A file is closed and uploaded once this long has passed since its first record arrived, even "
                        + "below " + FILE_MAX_RECORDS + "; 0 to roll by record count only.",
                FILE_GROUP, ++file, Width.SHORT, "Flush interval (ms)");
        def.define(FILE_COMPRESSION_TYPE, Type.STRING, "snappy",
                ConfigDef.CaseInsensitiveValidString.in(CODECS.keySet().toArray(String[]::new)), Importance.LOW,
                "Parquet column compression codec: " + String.join(", ", CODECS.keySet()) + ".",
                FILE_GROUP, ++file, Width.SHORT, "Compression");
        def.define(FORMAT_OUTPUT_TYPE, Type.STRING, "parquet", ConfigDef.CaseInsensitiveValidString.in("parquet"),
                Importance.LOW, "Output format; this connector writes Parquet only.",
                FORMAT_GROUP, ++format, Width.SHORT, "Output format");
        def.define(FORMAT_OUTPUT_FIELDS, Type.LIST, "value", new OutputFields(), Importance.MEDIUM,
                "Record parts written, as columns of those names in this order: key, value, offset, timestamp "
                        + "(offset and timestamp as int64, timestamp in epoch milliseconds). 'headers' is not "
                        + "supported.",
                FORMAT_GROUP, ++format, Width.MEDIUM, "Output fields");
        def.define(FORMAT_OUTPUT_ENVELOPE, Type.BOOLEAN, true, Importance.MEDIUM,
                "true: one column per output field (a Struct value becomes a group column 'value'). false: "
                        + FORMAT_OUTPUT_FIELDS + " must be 'value' and the value's fields are the top-level columns.",
                FORMAT_GROUP, ++format, Width.SHORT, "Envelope");
        def.define(KAFKA_METADATA_COLUMNS, Type.BOOLEAN, false, Importance.LOW,
                "Add columns _kafka_partition (int32), _kafka_offset (int64) and _kafka_timestamp "
                        + "(timestamp millis, UTC) after the others (this connector's own setting).",
                FORMAT_GROUP, ++format, Width.SHORT, "Kafka metadata columns");
        return def;
    }

    private static Map<String, CompressionCodecName> codecs() {
        Map<String, CompressionCodecName> codecs = new LinkedHashMap<>();
        codecs.put("none", CompressionCodecName.UNCOMPRESSED);
        codecs.put("gzip", CompressionCodecName.GZIP);
        codecs.put("snappy", CompressionCodecName.SNAPPY);
        codecs.put("zstd", CompressionCodecName.ZSTD);
        return codecs;
    }

    private static final class HttpUrl implements ConfigDef.Validator {
        @Override
        public void ensureValid(String name, Object value) {
            if (value == null || value.toString().isBlank()) {
                return;
            }
            try {
                URI uri = new URI(value.toString().trim());
                if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme()) || uri.getHost() == null) {
                    throw new ConfigException(name, value, "must be an http(s) URL such as http://minio:9000");
                }
            } catch (URISyntaxException e) {
                throw new ConfigException(name, value, "is not a URL: " + e.getMessage());
            }
        }

        @Override
        public String toString() {
            return "http(s) URL";
        }
    }

    private static final class TemplateValidator implements ConfigDef.Validator {
        @Override
        public void ensureValid(String name, Object value) {
            try {
                FileNameTemplate.parse((String) value);
            } catch (IllegalArgumentException e) {
                throw new ConfigException(name, value, e.getMessage());
            }
        }

        @Override
        public String toString() {
            return "template with {{topic}}, {{partition}}, {{start_offset}}";
        }
    }

    private static final class TopicIds implements ConfigDef.Validator {
        @Override
        @SuppressWarnings("unchecked")
        public void ensureValid(String name, Object value) {
            try {
                parseTopicIds((List<String>) value);
            } catch (IllegalArgumentException e) {
                throw new ConfigException(name, value, e.getMessage());
            }
        }

        @Override
        public String toString() {
            return "[<topic>=<topic id>, ...]";
        }
    }

    private static final class OutputFields implements ConfigDef.Validator {
        @Override
        @SuppressWarnings("unchecked")
        public void ensureValid(String name, Object value) {
            try {
                OutputLayout.parseParts((List<String>) value);
            } catch (IllegalArgumentException e) {
                throw new ConfigException(name, value, e.getMessage());
            }
        }

        @Override
        public String toString() {
            return "[key, value, offset, timestamp]";
        }
    }
}
