package io.fraudlake.connect.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class FileNameTemplateTest {

    @Test
    void defaultTemplateNamesTopicPartitionAndStartOffset() {
        FileNameTemplate template = FileNameTemplate.parse(S3SinkConfig.DEFAULT_FILE_NAME_TEMPLATE);
        assertEquals("txns-0-50.parquet", template.render("txns", 0, 50));
    }

    @Test
    void paddingUsesAivensWidths() {
        FileNameTemplate template =
                FileNameTemplate.parse("raw/{{topic}}/{{partition:padding=true}}-{{ start_offset : padding=true }}.parquet");
        assertEquals("raw/t/0000000003-00000000000000000050.parquet", template.render("t", 3, 50));
        assertEquals("t-3-50", FileNameTemplate.parse("{{topic}}-{{partition:padding=false}}-{{start_offset}}")
                .render("t", 3, 50));
    }

    @Test
    void everyVariableIsRequiredSoNamesAreUniqueAndReplayStable() {
        IllegalArgumentException error =
                assertThrows(IllegalArgumentException.class, () -> FileNameTemplate.parse("{{topic}}-{{partition}}.parquet"));
        assertTrue(error.getMessage().contains("{{start_offset}}"), error.getMessage());
    }

    @Test
    void unknownVariablesAndParametersAreNamed() {
        IllegalArgumentException variable = assertThrows(IllegalArgumentException.class,
                () -> FileNameTemplate.parse("{{topic}}-{{partition}}-{{start_offset}}-{{timestamp:unit=yyyy}}"));
        assertTrue(variable.getMessage().contains("{{timestamp:unit=yyyy}}"), variable.getMessage());
        IllegalArgumentException parameter = assertThrows(IllegalArgumentException.class,
                () -> FileNameTemplate.parse("{{topic}}-{{partition:width=4}}-{{start_offset}}"));
        assertTrue(parameter.getMessage().contains("width=4"), parameter.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> FileNameTemplate.parse("{{topic}}-{{partition}}-{{start_offset}}}}"));
    }

    @Test
    void theTopicIdNamesTheIncarnationSoARecreatedTopicNeverOverwritesOldObjects() {
        FileNameTemplate template = FileNameTemplate.parse("raw/{{topic}}/{{topic_id}}/{{partition}}-{{start_offset}}.parquet");
        assertTrue(template.usesTopicId());
        assertEquals("raw/t/AbC-12_x/0-0.parquet", template.render("t", "AbC-12_x", 0, 0));
        assertTrue(!template.render("t", "old", 0, 0).equals(template.render("t", "new", 0, 0)));
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> template.render("t", 0, 0));
        assertTrue(error.getMessage().contains("topic.ids"), error.getMessage());
    }
}
