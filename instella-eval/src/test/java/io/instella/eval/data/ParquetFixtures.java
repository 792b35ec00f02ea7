package io.instella.eval.data;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HexFormat;

/**
 * Writes small parquet datasets with the schemas of the 14 tasks' Hugging Face datasets (image columns as
 * {@code STRUCT(bytes BLOB, path VARCHAR)}, Sequence(Image) as a list of those), 6 rows each, laid out like
 * the hub cache (most) or as plain {@code <org>/<name>/} directories (some), so both locations are exercised.
 */
public final class ParquetFixtures {
    private ParquetFixtures() {}

    public static final int ROWS = 6;

    /** A tiny PNG whose colour depends on {@code seed}. */
    public static byte[] png(int seed) {
        BufferedImage img = new BufferedImage(4, 3, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 4; x++) img.setRGB(x, y, (int) ((seed * 2654435761L + x * 977L + y * 131L) & 0xFFFFFF));
        }
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(img, "png", out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String image(int seed) {
        return "{'bytes': from_hex('" + HexFormat.of().formatHex(png(seed)) + "'), 'path': NULL::VARCHAR}";
    }

    static final String NULL_IMAGE = "NULL::STRUCT(bytes BLOB, path VARCHAR)";

    /** Writes every task's dataset under {@code root} and returns it. */
    public static Path writeAll(Path root) {
        try (Connection c = DriverManager.getConnection("jdbc:duckdb:"); Statement s = c.createStatement()) {
            gqa(root, s);
            scienceqa(root, s);
            pope(root, s);
            mmbench(root, s);
            seedbench(root, s);
            mmmu(root, s);
            realworldqa(root, s);
            mmstar(root, s);
            ocrbench(root, s);
            textvqa(root, s);
            ai2d(root, s);
            chartqa(root, s);
            docvqa(root, s);
            return root;
        } catch (SQLException | IOException e) {
            throw new IllegalStateException("cannot write parquet fixtures: " + e.getMessage(), e);
        }
    }

    /** A hub-cache snapshot directory for a dataset repo. */
    static Path cached(Path root, String repo) throws IOException {
        Path repoDir = root.resolve("datasets--" + repo.replace("/", "--"));
        Files.createDirectories(repoDir.resolve("refs"));
        Files.writeString(repoDir.resolve("refs").resolve("main"), "0123abcd\n");
        Path snap = repoDir.resolve("snapshots").resolve("0123abcd");
        Files.createDirectories(snap);
        return snap;
    }

    static void copy(Statement s, String select, Path file) throws SQLException, IOException {
        Files.createDirectories(file.getParent());
        s.execute("COPY (" + select + ") TO '" + file.toString().replace("'", "''") + "' (FORMAT parquet)");
    }

    private static String rows(String... rows) {
        return String.join(" UNION ALL ", rows);
    }

    static void gqa(Path root, Statement s) throws SQLException, IOException {
        Path snap = cached(root, "lmms-lab/GQA");
        String[] q = {"Is the sky blue?", "What color is the car?", "Is there a dog?", "Which side is the tree on?", "Is it sunny?", "What is on the table?"};
        String[] a = {"yes", "blue", "no", "left", "yes", "cup"};
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            rows[i] = "SELECT '20" + i + "' AS id, 'n" + (i % 3) + "' AS imageId, '" + q[i] + "' AS question, '" + a[i]
                    + "' AS answer, 'The answer is " + a[i] + ".' AS fullAnswer, true AS isBalanced";
        }
        copy(s, rows(rows), snap.resolve("testdev_balanced_instructions/testdev-00000-of-00001.parquet"));
        String[] img = new String[3];
        for (int i = 0; i < 3; i++) img[i] = "SELECT 'n" + i + "' AS id, " + image(100 + i) + " AS image";
        copy(s, rows(img), snap.resolve("testdev_balanced_images/testdev-00000-of-00001.parquet"));
    }

    static void scienceqa(Path root, Statement s) throws SQLException, IOException {
        Path snap = cached(root, "lmms-lab/ScienceQA");
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            rows[i] = "SELECT " + (i == 2 ? NULL_IMAGE : image(200 + i)) + " AS image, 'Which state is farthest north " + i + "?' AS question, "
                    + "['West Virginia', 'Louisiana', 'Arizona']::VARCHAR[] AS choices, " + (i % 3) + "::TINYINT AS answer, '"
                    + (i % 2 == 0 ? "" : "Look at the map.") + "' AS hint, 'closed choice' AS task, 'grade2' AS grade, "
                    + "'social science' AS subject, 'geography' AS topic, 'Geography' AS category, 'Read a map' AS skill, "
                    + "'' AS lecture, '' AS solution";
        }
        copy(s, rows(rows), snap.resolve("ScienceQA-IMG/test-00000-of-00001.parquet"));
    }

    static void pope(Path root, Statement s) throws SQLException, IOException {
        Path snap = cached(root, "lmms-lab/POPE");
        String[] rows = new String[ROWS];
        String[] obj = {"dog", "car", "tree", "cat", "bus", "person"};
        for (int i = 0; i < ROWS; i++) {
            rows[i] = "SELECT '" + i + "' AS id, '" + (i + 1) + "' AS question_id, 'Is there a " + obj[i] + " in the image?' AS question, '"
                    + (i % 2 == 0 ? "yes" : "no") + "' AS answer, 'COCO_val2014_" + i + ".jpg' AS image_source, " + image(300 + i)
                    + " AS image, '" + (i < 3 ? "adversarial" : "random") + "' AS category";
        }
        // Two shards, read in name order.
        copy(s, rows(java.util.Arrays.copyOfRange(rows, 0, 4)), snap.resolve("data/test-00000-of-00002.parquet"));
        copy(s, rows(java.util.Arrays.copyOfRange(rows, 4, 6)), snap.resolve("data/test-00001-of-00002.parquet"));
    }

    static void mmbench(Path root, Statement s) throws SQLException, IOException {
        Path snap = cached(root, "lmms-lab/MMBench");
        long[] index = {1, 2, 1000001, 1000002, 3, 1000003};
        String[][] opts = {{"cat", "dog", "bird", "fish"}, {"red", "green", null, null}, {"dog", "bird", "fish", "cat"},
                {"green", "red", null, null}, {"one", "two", "three", "four"}, {"two", "three", "four", "one"}};
        String[] answer = {"A", "B", "D", "A", "B", "A"};
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            StringBuilder o = new StringBuilder();
            for (int k = 0; k < 4; k++) {
                o.append(opts[i][k] == null ? "NULL::VARCHAR" : "'" + opts[i][k] + "'").append(" AS ").append((char) ('A' + k)).append(", ");
            }
            rows[i] = "SELECT " + index[i] + "::BIGINT AS \"index\", 'What is shown?' AS question, " + (i % 2 == 0 ? "NULL::VARCHAR" : "'A hint.'")
                    + " AS hint, " + o + "'" + answer[i] + "' AS answer, 'attribute_recognition' AS category, " + image(400 + i)
                    + " AS image, 'synthetic' AS source, 'finegrained_perception' AS \"L2-category\", NULL::VARCHAR AS comment, 'dev' AS split";
        }
        copy(s, rows(rows), snap.resolve("en/dev-00000-of-00001.parquet"));
    }

    static void seedbench(Path root, Statement s) throws SQLException, IOException {
        Path snap = cached(root, "lmms-lab/SEED-Bench");
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            boolean video = i == 4;
            String images = video ? "[" + image(500 + i) + ", " + image(510 + i) + "]" : "[" + image(500 + i) + "]";
            rows[i] = "SELECT '" + "ABCD".charAt(i % 4) + "' AS answer, 'cat' AS choice_a, 'dog' AS choice_b, 'bird' AS choice_c, 'fish' AS choice_d, "
                    + "'d" + i + "' AS data_id, '" + (video ? "video" : "image") + "' AS data_type, 'What animal is shown?' AS question, '"
                    + (100 + i) + "_0' AS question_id, 1::BIGINT AS question_type_id, " + images + " AS image, NULL::BIGINT[] AS segment";
        }
        copy(s, rows(rows), snap.resolve("data/test-00000-of-00001.parquet"));
    }

    static void mmmu(Path root, Statement s) throws SQLException, IOException {
        Path repo = root.resolve("lmms-lab").resolve("MMMU"); // plain directory layout
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            boolean open = i == 3;
            boolean twoImages = i == 1;
            String question = twoImages ? "Compare <image 2> with <image 1>." : "What is in <image 1>?";
            StringBuilder imgs = new StringBuilder();
            for (int k = 1; k <= 7; k++) {
                boolean present = k == 1 || (twoImages && k == 2);
                imgs.append(present ? image(600 + 10 * i + k) : NULL_IMAGE).append(" AS image_").append(k).append(", ");
            }
            rows[i] = "SELECT 'validation_Art_Theory_" + (i + 1) + "' AS id, '" + question + "' AS question, '"
                    + (open ? "[]" : "[''cat'', ''dog'', ''bird'', ''fish'']") + "' AS options, '' AS explanation, " + imgs
                    + "'Photographs' AS img_type, '" + (open ? "4" : "ABCD".substring(i % 4, i % 4 + 1)) + "' AS answer, 'Easy' AS topic_difficulty, '"
                    + (open ? "open" : "multiple-choice") + "' AS question_type, 'Art' AS subfield";
        }
        copy(s, rows(rows), repo.resolve("validation-00000-of-00001.parquet"));
        Files.writeString(repo.resolve("README.md"), "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: validation\n    path: validation-*\n---\n# MMMU\n");
    }

    static void realworldqa(Path root, Statement s) throws SQLException, IOException {
        Path snap = cached(root, "lmms-lab/RealWorldQA");
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            rows[i] = "SELECT " + image(700 + i) + " AS image, 'Which direction is the car facing?\nA. Left\nB. Right\nC. Toward the camera\n"
                    + "Please answer directly with only the letter of the correct option and nothing else.' AS question, '"
                    + "ABC".charAt(i % 3) + "' AS answer";
        }
        copy(s, rows(rows), snap.resolve("data/test-00000-of-00001.parquet"));
    }

    static void mmstar(Path root, Statement s) throws SQLException, IOException {
        Path snap = cached(root, "Lin-Chen/MMStar");
        String[] l2 = {"image scene and topic", "object counting", "geometry", "image emotion", "recognition", "statistical reasoning"};
        String[] cat = {"coarse perception", "fine-grained perception", "math", "coarse perception", "fine-grained perception", "math"};
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            rows[i] = "SELECT " + i + "::BIGINT AS \"index\", 'Which option describes the scene?\nOptions: A: a beach, B: a city, C: a forest, D: a desert' AS question, "
                    + image(800 + i) + " AS image, '" + "ABCD".charAt(i % 4) + "' AS answer, '" + cat[i] + "' AS category, '" + l2[i]
                    + "' AS l2_category, {'source': 'MMBench', 'split': 'val', 'image_path': ['images/" + i + ".jpg']} AS meta_info";
        }
        copy(s, rows(rows), snap.resolve("mmstar.parquet"));
        Files.writeString(snap.resolve("README.md"), "---\nlicense: cc-by-4.0\nconfigs:\n- config_name: val\n  data_files:\n  - split: val\n    path: \"mmstar.parquet\"\n"
                + "dataset_info:\n  features:\n  - name: index\n---\n# MMStar\n");
    }

    static void ocrbench(Path root, Statement s) throws SQLException, IOException {
        Path snap = cached(root, "echo840/OCRBench");
        String[] types = {"Regular Text Recognition", "Scene Text-centric VQA", "Doc-oriented VQA", "Key Information Extraction",
                "Handwritten Mathematical Expression Recognition", "Digit String Recognition"};
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            rows[i] = "SELECT '" + (i == 4 ? "HME100k" : "IIIT5K") + "' AS dataset, 'what is written in the image?' AS question, '" + types[i]
                    + "' AS question_type, ['blue', 'BLUE']::VARCHAR[] AS answer, " + image(900 + i) + " AS image";
        }
        copy(s, rows(rows), snap.resolve("data/test-00000-of-00001.parquet"));
    }

    static void textvqa(Path root, Statement s) throws SQLException, IOException {
        Path snap = cached(root, "lmms-lab/textvqa");
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            rows[i] = "SELECT 'img" + i + "' AS image_id, " + (34602 + i) + " AS question_id, 'what COLOR is the sign?' AS question, "
                    + "['what', 'color']::VARCHAR[] AS question_tokens, " + image(1000 + i) + " AS image, 4.0 AS image_width, 3.0 AS image_height, "
                    + "'http://x' AS flickr_original_url, 'http://y' AS flickr_300k_url, "
                    + "['Blue', 'blue', 'blue.', 'navy', 'blue', 'Blue', 'dark blue', 'blue', 'blue', 'red']::VARCHAR[] AS answers, "
                    + "['Sign']::VARCHAR[] AS image_classes, 'val' AS set_name, ['STOP']::VARCHAR[] AS ocr_tokens";
        }
        copy(s, rows(rows), snap.resolve("data/validation-00000-of-00001.parquet"));
    }

    static void ai2d(Path root, Statement s) throws SQLException, IOException {
        Path snap = cached(root, "lmms-lab/ai2d");
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            rows[i] = "SELECT 'Which phase of the moon is shown at " + (char) ('E' + i) + "?' AS question, "
                    + "['new moon', 'first quarter', 'full moon', 'last quarter']::VARCHAR[] AS options, '" + (i % 4) + "' AS answer, "
                    + image(1100 + i) + " AS image";
        }
        copy(s, rows(rows), snap.resolve("data/test-00000-of-00001.parquet"));
    }

    static void chartqa(Path root, Statement s) throws SQLException, IOException {
        Path repo = root.resolve("lmms-lab").resolve("ChartQA"); // plain layout, no README
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            rows[i] = "SELECT '" + (i % 2 == 0 ? "human_test" : "augmented_test") + "' AS type, 'What is the value of bar " + i + "?' AS question, '"
                    + (i == 0 ? "blue" : String.valueOf(40 + i)) + "' AS answer, " + image(1200 + i) + " AS image";
        }
        copy(s, rows(rows), repo.resolve("data/test-00000-of-00001.parquet"));
    }

    static void docvqa(Path root, Statement s) throws SQLException, IOException {
        Path snap = cached(root, "lmms-lab/DocVQA");
        String[] rows = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            rows[i] = "SELECT '" + (49153 + i) + "' AS questionId, 'What is the name of the company?' AS question, ['other']::VARCHAR[] AS question_types, "
                    + image(1300 + i) + " AS image, " + (14465 + i) + " AS docId, 'pybv0228' AS ucsf_document_id, '81' AS ucsf_document_page_no, "
                    + "['Blue Inc', 'blue inc.']::VARCHAR[] AS answers, 'val' AS data_split";
        }
        copy(s, rows(rows), snap.resolve("DocVQA/validation-00000-of-00001.parquet"));
        String[] info = new String[ROWS];
        for (int i = 0; i < ROWS; i++) {
            info[i] = "SELECT '" + (60001 + i) + "' AS questionId, 'Which colour dominates?' AS question, ['blue']::VARCHAR[] AS answers, "
                    + "['single span']::VARCHAR[] AS answer_type, " + image(1400 + i) + " AS image, 'http://img' AS image_url, "
                    + "['Counting']::VARCHAR[] AS \"operation/reasoning\", '{}' AS ocr, 'val' AS data_split";
        }
        copy(s, rows(info), snap.resolve("InfographicVQA/validation-00000-of-00001.parquet"));
    }
}
