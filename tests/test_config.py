import pytest

from tune_cifar.config import ConfigError, TrialConfig
from tune_cifar.practice import PRACTICE_FILE, PRACTICE_ORDER, load_variants, select_variants

VALID = {
    "conv_blocks": [{"filters": [32, 64], "dropout": 0.25}],
    "dense_units": 128,
    "dense_dropout": 0.5,
    "learning_rate": 1.0e-3,
    "batch_size": 100,
    "max_epochs": 20,
    "patience": 1,
}


def test_round_trip():
    config = TrialConfig.from_dict(VALID)
    assert TrialConfig.from_dict(config.to_dict()) == config
    assert config.to_dict() == VALID


def test_practice_file_has_six_variants():
    variants = load_variants()
    assert tuple(variants) == PRACTICE_ORDER
    assert variants["q3"].config.learning_rate == pytest.approx(1e-4)
    assert variants["q3"].config.batch_size == 32
    assert variants["q4"].config.max_epochs == 100
    assert variants["original"].config.model.dense_dropout == 0.0
    assert all(v.description for v in variants.values())


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("learning_rate", 0.0, "'learning_rate' must be a number > 0"),
        ("learning_rate", -1e-3, "'learning_rate' must be a number > 0"),
        ("learning_rate", "1e-3", "write 1.0e-3"),
        ("dense_dropout", 1.0, "'dense_dropout' must be a dropout rate in [0, 1)"),
        ("dense_dropout", -0.1, "'dense_dropout' must be a dropout rate in [0, 1)"),
        ("batch_size", 0, "'batch_size' must be an integer >= 1"),
        ("batch_size", 32.5, "'batch_size' must be an integer >= 1"),
        ("max_epochs", 0, "'max_epochs' must be an integer >= 1"),
        ("patience", -1, "'patience' must be an integer >= 0"),
        ("conv_blocks", [], "'conv_blocks' must be a non-empty list"),
        ("conv_blocks", [{"filters": [32], "dropout": 1.5}], "'conv_blocks[0].dropout'"),
        ("conv_blocks", [{"filters": [32], "kernel": 5}], "unknown key(s) 'kernel' in 'conv_blocks[0]'"),
        ("conv_blocks", [{"filters": [32, 32]}] * 4, "shrinks the 32x32 input below 1x1"),
    ],
)
def test_invalid_values(key, value, fragment):
    with pytest.raises(ConfigError) as error:
        TrialConfig.from_dict({**VALID, key: value}, source="here")
    assert fragment in str(error.value)
    assert str(error.value).startswith("here: ")


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) 'learning_rat'.*valid keys are"):
        TrialConfig.from_dict({**VALID, "learning_rat": 1e-3})


def test_missing_key():
    values = dict(VALID)
    del values["batch_size"]
    with pytest.raises(ConfigError, match="missing key"):
        TrialConfig.from_dict(values)


def test_patience_null_turns_early_stopping_off():
    assert TrialConfig.from_dict({**VALID, "patience": None}).patience is None


def test_epoch_cap():
    config = TrialConfig.from_dict(VALID)
    assert config.with_epoch_cap(2).max_epochs == 2
    assert config.with_epoch_cap(50).max_epochs == 20
    assert config.with_epoch_cap(None) is config


def _write_space(tmp_path, body):
    path = tmp_path / "space.yaml"
    path.write_text(body)
    return path


def test_file_error_names_file_variant_and_key(tmp_path):
    text = PRACTICE_FILE.read_text().replace("batch_size: 32\n", "batch_size: 0\n", 1)
    path = _write_space(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_variants(path)
    message = str(error.value)
    assert str(path) in message
    assert "variant 'q3'" in message
    assert "'batch_size'" in message


def test_file_unknown_key(tmp_path):
    text = PRACTICE_FILE.read_text().replace("    patience: 1\n", "    patience: 1\n    optimizer: adam\n", 1)
    with pytest.raises(ConfigError, match=r"variant 'original': unknown key\(s\) 'optimizer'"):
        load_variants(_write_space(tmp_path, text))


def test_file_missing_description(tmp_path):
    path = _write_space(tmp_path, "variants:\n  a:\n    conv_blocks: [{filters: [8]}]\n    dense_units: 8\n"
                                  "    learning_rate: 0.1\n    batch_size: 2\n    max_epochs: 1\n")
    with pytest.raises(ConfigError, match="variant 'a': key 'description'"):
        load_variants(path)


@pytest.mark.parametrize("body, fragment", [("", "expected a top-level 'variants:'"), ("variants: [1, 2]\n", "expected a top-level"),
                                            ("variants: {a: 1}\nextra: 2\n", "unknown top-level key"), ("variants: [\n", "invalid YAML")])
def test_file_structure_errors(tmp_path, body, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_variants(_write_space(tmp_path, body))


def test_file_not_found(tmp_path):
    with pytest.raises(ConfigError, match="search space file not found"):
        load_variants(tmp_path / "missing.yaml")


def test_select_variants():
    variants = load_variants()
    assert [v.name for v in select_variants(variants, "q4,original")] == ["original", "q4"]
    assert len(select_variants(variants, None)) == 6
    with pytest.raises(ConfigError, match=r"unknown variant\(s\) 'q9'; choose from original, q1"):
        select_variants(variants, "original,q9")
    with pytest.raises(ConfigError, match="no variant names"):
        select_variants(variants, " , ")
