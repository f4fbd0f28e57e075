package io.fraudlake.connect.s3;

import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.Config;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigValue;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;

/**
 * Kafka Connect sink that writes each topic-partition's records as Parquet objects to S3 or MinIO.
 *
 * <p>Objects are named by topic, partition and the offset of their first record
 * ({@code file.name.template}), and offsets are committed only after an object is stored, so delivery is
 * at-least-once and a replay rewrites the same objects: effectively exactly-once in the lake. Config keys
 * mirror Aiven's S3 sink; see {@link S3SinkConfig}.
 */
public class S3ParquetSinkConnector extends SinkConnector {

    private Map<String, String> props;

    @Override
    public String version() {
        return Version.get();
    }

    @Override
    public void start(Map<String, String> props) {
        new S3SinkConfig(props); // fail at start, naming the key, rather than in every task
        this.props = Map.copyOf(props);
    }

    @Override
    public Class<? extends Task> taskClass() {
        return S3ParquetSinkTask.class;
    }

    /** Every task gets the same settings; Kafka spreads the topic-partitions among them. */
    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        return Collections.nCopies(maxTasks, props);
    }

    @Override
    public void stop() {
        props = null;
    }

    @Override
    public ConfigDef config() {
        return S3SinkConfig.CONFIG_DEF;
    }

    /** Per-key checks of the ConfigDef, then the rules that involve two keys (both credentials or neither). */
    @Override
    public Config validate(Map<String, String> connectorConfigs) {
        Config config = super.validate(connectorConfigs);
        Map<String, Object> validValues = new HashMap<>();
        for (ConfigValue value : config.configValues()) {
            if (value.errorMessages().isEmpty()) {
                validValues.put(value.name(), value.value());
            }
        }
        if (connectorConfigs.containsKey(S3SinkConfig.TOPICS)) { // a framework key: not in our ConfigDef
            validValues.put(S3SinkConfig.TOPICS, connectorConfigs.get(S3SinkConfig.TOPICS));
        }
        for (S3SinkConfig.KeyProblem problem : S3SinkConfig.crossFieldProblems(validValues)) {
            for (ConfigValue value : config.configValues()) {
                if (value.name().equals(problem.key())) {
                    value.addErrorMessage(problem.message());
                }
            }
        }
        return config;
    }
}
