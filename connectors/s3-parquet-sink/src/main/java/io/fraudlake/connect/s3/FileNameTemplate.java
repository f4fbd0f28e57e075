package io.fraudlake.connect.s3;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The object name of one Parquet file, in Aiven's {@code file.name.template} syntax.
 *
 * <p>Variables: {@code {{topic}}}, {@code {{partition}}} and {@code {{start_offset}}}, each optionally
 * {@code :padding=true} (partition to 10 digits, offset to 20, as Aiven pads them, so names sort in
 * offset order). All three are required: the name must be fixed by the first record of the file, so
 * that a replay after a crash rewrites the same object instead of adding a second copy.
 *
 * <p>This connector's own, optional {@code {{topic_id}}} is the topic's incarnation (Kafka's topic id,
 * from {@code topic.ids}): a topic deleted and recreated starts again at offset 0, and without the id
 * its objects would overwrite the old incarnation's objects of the same names. Aiven's and Confluent's
 * sinks have no such variable (a SinkRecord does not carry the topic id).
 */
public final class FileNameTemplate {

    /** Aiven's widths: Integer.MAX_VALUE and Long.MAX_VALUE have 10 and 19 digits (+1 spare). */
    private static final int PARTITION_WIDTH = 10;
    private static final int OFFSET_WIDTH = 20;

    private static final Pattern VARIABLE = Pattern.compile("\\{\\{\\s*([\\w.-]+)\\s*(?::\\s*([^}]*?)\\s*)?}}");
    private static final Pattern PADDING = Pattern.compile("padding=(true|false)");

    enum Variable {
        TOPIC,
        PARTITION,
        START_OFFSET,
        TOPIC_ID;

        /** Variables every template must contain (the others are optional). */
        static final Set<Variable> REQUIRED = EnumSet.of(TOPIC, PARTITION, START_OFFSET);

        String placeholder() {
            return "{{" + name().toLowerCase(Locale.ROOT) + "}}";
        }
    }

    /** A literal piece of the name, or a variable with its padding. */
    private record Part(String literal, Variable variable, boolean padded) {}

    private final String template;
    private final List<Part> parts;

    private FileNameTemplate(String template, List<Part> parts) {
        this.template = template;
        this.parts = parts;
    }

    /**
     * Parse {@code template}.
     *
     * @throws IllegalArgumentException naming the offending variable when the template has an unknown
     *     variable or parameter, or lacks one of topic, partition, start_offset
     */
    public static FileNameTemplate parse(String template) {
        if (template == null || template.isBlank()) {
            throw new IllegalArgumentException("must not be empty");
        }
        List<Part> parts = new ArrayList<>();
        Set<Variable> seen = EnumSet.noneOf(Variable.class);
        Matcher matcher = VARIABLE.matcher(template);
        int last = 0;
        while (matcher.find()) {
            if (matcher.start() > last) {
                parts.add(new Part(template.substring(last, matcher.start()), null, false));
            }
            Variable variable = variable(matcher.group(1), matcher.group(0));
            parts.add(new Part(null, variable, padded(matcher.group(2), matcher.group(0))));
            seen.add(variable);
            last = matcher.end();
        }
        if (last < template.length()) {
            parts.add(new Part(template.substring(last), null, false));
        }
        for (Variable required : Variable.REQUIRED) {
            if (!seen.contains(required)) {
                throw new IllegalArgumentException("must contain " + required.placeholder()
                        + " (topic, partition and start offset make object names unique and replay-stable)");
            }
        }
        String literal = String.join("", parts.stream().filter(p -> p.literal != null).map(Part::literal).toList());
        if (literal.contains("{{") || literal.contains("}}")) {
            throw new IllegalArgumentException("has an unbalanced '{{' or '}}'");
        }
        return new FileNameTemplate(template, List.copyOf(parts));
    }

    /** Whether names carry {@code {{topic_id}}}, so every topic needs an id in {@code topic.ids}. */
    public boolean usesTopicId() {
        return parts.stream().anyMatch(part -> part.variable == Variable.TOPIC_ID);
    }

    /** The object name of the file whose first record is {@code startOffset} of {@code topic}-{@code partition}. */
    public String render(String topic, int partition, long startOffset) {
        return render(topic, null, partition, startOffset);
    }

    /**
     * The object name of the file whose first record is {@code startOffset} of {@code topic}-{@code partition}
     * in the topic's incarnation {@code topicId}.
     *
     * @throws IllegalArgumentException when the template has {@code {{topic_id}}} and {@code topicId} is
     *     null or blank (writing under a wrong or empty incarnation would overwrite other objects)
     */
    public String render(String topic, String topicId, int partition, long startOffset) {
        if (usesTopicId() && (topicId == null || topicId.isBlank())) {
            throw new IllegalArgumentException("no topic id for topic '" + topic + "' but " + template
                    + " names objects by {{topic_id}}: set it in topic.ids");
        }
        StringBuilder name = new StringBuilder();
        for (Part part : parts) {
            if (part.literal != null) {
                name.append(part.literal);
                continue;
            }
            switch (part.variable) {
                case TOPIC -> name.append(topic);
                case PARTITION -> name.append(pad(partition, part.padded ? PARTITION_WIDTH : 0));
                case START_OFFSET -> name.append(pad(startOffset, part.padded ? OFFSET_WIDTH : 0));
                case TOPIC_ID -> name.append(topicId);
                default -> throw new IllegalStateException(part.variable.name());
            }
        }
        return name.toString();
    }

    @Override
    public String toString() {
        return template;
    }

    private static Variable variable(String name, String placeholder) {
        for (Variable variable : Variable.values()) {
            if (variable.name().equalsIgnoreCase(name)) {
                return variable;
            }
        }
        throw new IllegalArgumentException("variable " + placeholder
                + " is not supported (supported: {{topic}}, {{partition}}, {{start_offset}}, {{topic_id}})");
    }

    private static boolean padded(String parameters, String placeholder) {
        if (parameters == null || parameters.isEmpty()) {
            return false;
        }
        Matcher padding = PADDING.matcher(parameters);
        if (!padding.matches()) {
            throw new IllegalArgumentException("parameter '" + parameters + "' of " + placeholder
                    + " is not supported (supported: padding=true|false)");
        }
        return Boolean.parseBoolean(padding.group(1));
    }

    private static String pad(long number, int width) {
        String digits = Long.toString(number);
        return digits.length() >= width ? digits : "0".repeat(width - digits.length()) + digits;
    }
}
