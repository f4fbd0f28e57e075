package io.fraudlake.connect.s3;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Which parts of a record become Parquet columns, following Aiven's {@code format.output.fields} and
 * {@code format.output.envelope}.
 *
 * <ul>
 *   <li>Envelope on: one column per listed part, in the listed order: {@code key} and {@code value} typed
 *       by their Connect schemas (a Struct becomes a group), {@code offset} and {@code timestamp} as
 *       required INT64 (epoch milliseconds), as Aiven writes them.
 *   <li>Envelope off: only {@code value} may be listed; the value's Struct fields are the top-level columns.
 * </ul>
 * Optionally (this connector's own setting) {@code _kafka_partition}, {@code _kafka_offset} and
 * {@code _kafka_timestamp} follow at the end.
 */
record OutputLayout(List<Part> parts, boolean envelope, boolean kafkaMetadataColumns) {

    /** A part of a record that can be written; the column name in envelope mode is its lower-case name. */
    enum Part {
        KEY,
        VALUE,
        OFFSET,
        TIMESTAMP;

        String column() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    OutputLayout {
        parts = List.copyOf(parts);
    }

    /** The layout that writes the value's fields as top-level columns (envelope off). */
    static OutputLayout flatValue(boolean kafkaMetadataColumns) {
        return new OutputLayout(List.of(Part.VALUE), false, kafkaMetadataColumns);
    }

    boolean writesKey() {
        return envelope && parts.contains(Part.KEY);
    }

    /**
     * Parse {@code format.output.fields} entries.
     *
     * @throws IllegalArgumentException naming an unknown, unsupported or repeated entry
     */
    static List<Part> parseParts(List<String> names) {
        if (names == null || names.isEmpty()) {
            throw new IllegalArgumentException("must list at least one of key, value, offset, timestamp");
        }
        List<Part> parts = new ArrayList<>();
        for (String name : names) {
            String normalized = name.trim().toLowerCase(Locale.ROOT);
            if ("headers".equals(normalized)) {
                throw new IllegalArgumentException("'headers' is not supported by this connector (supported: key, "
                        + "value, offset, timestamp)");
            }
            Part part = null;
            for (Part candidate : Part.values()) {
                if (candidate.column().equals(normalized)) {
                    part = candidate;
                }
            }
            if (part == null) {
                throw new IllegalArgumentException("'" + name + "' is not a record part (supported: key, value, "
                        + "offset, timestamp)");
            }
            if (parts.contains(part)) {
                throw new IllegalArgumentException("'" + name + "' is listed twice");
            }
            parts.add(part);
        }
        return parts;
    }
}
