"""The published face feature extractors: every distributed weights format loads, and the features equal the
reference outputs of the authors' own classes (../shared/data/extractors, weights rebuilt by its fill rule)."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import extractor_fixtures as fx
from mafrg import extractors
from mafrg.extractors.errors import WeightsError

pytestmark = pytest.mark.skipif(not fx.available(), reason="../shared/data/extractors is not present")
REL = 1e-5  # max |mafrg - reference| / max |reference|


def features(loaded, size: int = 224):
    with torch.inference_mode():
        return loaded.net(fx.input_batch(size))


@pytest.fixture(scope="module")
def elim_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("elim")
    sds = fx.elim_state_dicts()
    # enc2.t7 / reg2.t7 / header2.t7 as ELIM's demo ships them (plain state dicts); one in the legacy format
    return {"encoder": fx.save(sds["encoder"], d / "enc2.t7"), "regressor": fx.save(sds["regressor"], d / "reg2.t7"),
            "header": fx.save(sds["header"], d / "header2.t7", legacy=True)}


def test_elim_three_files_as_a_list_a_folder_or_one_prefixed_dict(elim_files, tmp_path):
    ref = fx.reference("elim")
    by_list = extractors.load("va", [str(p) for p in elim_files.values()])
    assert fx.close(features(by_list), ref["va64"]) <= REL
    with torch.inference_mode():
        assert fx.close(by_list.net.va(fx.input_batch()), ref["header"]) <= REL  # the header is loaded and right
    assert by_list.format.startswith("ELIM encoder + regressor + header")
    folder = extractors.load("va", str(elim_files["encoder"].parent))
    assert torch.equal(features(folder), features(by_list))
    sds = fx.elim_state_dicts()
    combined = {f"{role}.{k}": v for role, sd in (("encoder", sds["encoder"]), ("regressor", sds["regressor"]),
                                                    ("task_header", sds["header"])) for k, v in sd.items()}
    one = extractors.load("va", str(fx.save(combined, tmp_path / "elim.pth")))
    assert fx.close(features(one), ref["va64"]) <= REL
    # the feature needs no header: encoder + regressor alone
    two = extractors.load("va", [str(elim_files["encoder"]), str(elim_files["regressor"])])
    assert torch.equal(features(two), features(by_list))
    assert by_list.params == 2469696 + 2376128 + 88322


def test_elim_set_problems_are_named(elim_files, tmp_path):
    import shutil

    d = tmp_path / "weights"
    shutil.copytree(elim_files["encoder"].parent, d)
    shutil.copy(elim_files["header"], d / "header.t7")  # ELIM's demo folder holds header.t7 and header2.t7
    with pytest.raises(WeightsError, match=r"two header state dicts, .*header.t7 and .*header2.t7"):
        extractors.load("va", str(d))
    with pytest.raises(WeightsError, match=r"no regressor state dict among .*enc2.t7"):
        extractors.load("va", [str(elim_files["encoder"])])
    bad = dict(fx.elim_state_dicts()["regressor"])
    bad["lin1.weight"] = bad["lin1.weight"][:32]
    with pytest.raises(WeightsError, match=r"does not fit ELIM's regressor: shape mismatch lin1.weight: file \(32, 256\)"):
        extractors.load("va", [str(elim_files["encoder"]), str(fx.save(bad, tmp_path / "reg.t7"))])


def test_megraphau_resnet50_weights_as_the_authors_save_it(tmp_path):
    sd = fx.state_dict("megraphau_r50")
    ref = fx.reference("megraphau_r50")["feat"]
    opt = {"state": {}, "param_groups": [{"lr": 1e-4, "params": list(range(4))}]}
    pth = fx.save({"epoch": 20, "state_dict": {f"module.{k}": v for k, v in sd.items()}, "optimizer": opt},
                  tmp_path / "OpenGprahAU-ResNet50_first_stage.pth")
    loaded = extractors.load("au", str(pth))
    assert fx.close(features(loaded), ref) <= REL
    assert "resnet50 backbone, stage-1 ANFL head (200 keys) left out" in loaded.format
    assert "nn.DataParallel" in loaded.format and "'state_dict' entry" in loaded.format
    plain = extractors.load("au", str(fx.save(sd, tmp_path / "plain.pth")))
    assert torch.equal(features(plain), features(loaded))


def test_megraphau_swin_base_stage1_and_stage2_give_the_reference_feature(tmp_path):
    sd = fx.state_dict("megraphau_swinb")
    ref = fx.reference("megraphau_swinb")["feat"]
    pth = fx.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in sd.items()}, "optimizer": {}},
                  tmp_path / "stage1.pth")
    loaded = extractors.load("au", str(pth))
    assert fx.close(features(loaded), ref) <= REL
    assert "Swin (embed 128, depths [2, 2, 18, 2], heads [4, 8, 16, 32])" in loaded.format
    head = sum(torch.Size(e["shape"]).numel() for e in fx.manifest("megraphau_swinb")["keys"]
               if e["kind"] == "parameter" and e["key"].startswith("head."))
    assert loaded.params == 94934766 - head  # every backbone and global_linear parameter, once
    del sd
    sd2 = fx.state_dict("megraphau_swinb_stage2", asbuilt_from="megraphau_swinb")  # same backbone, MEFL head
    stage2 = extractors.load("au", str(fx.save(sd2, tmp_path / "stage2.pth")))
    assert "stage-2 MEFL head (240 keys) left out" in stage2.format
    assert fx.close(features(stage2), ref) <= REL
    with pytest.raises(ValueError, match="224 x 224"):
        stage2.net(torch.zeros(1, 3, 256, 256))


def test_hsemotion_pickled_model_and_state_dicts(tmp_path):
    sd = fx.state_dict("hsemotion_enet_b2_8")
    ref = fx.reference("hsemotion_enet_b2_8")
    pt = fx.save_pickled_timm_model(sd, tmp_path / "enet_b2_8.pt")
    assert "timm" not in sys.modules
    for pool in ("avg", "max"):
        loaded = extractors.load("fe", str(pt), pool=pool)
        assert "whole pickled model (timm.models.efficientnet.EfficientNet)" in loaded.format
        for size in (224, 260):
            assert fx.close(features(loaded, size), ref[f"feat_{pool}_{size}"]) <= REL, (pool, size)
    assert "timm" not in sys.modules  # loaded without importing (or faking) timm
    with torch.inference_mode():
        assert fx.close(loaded.net.net(fx.input_batch(260)), ref["logits_260"]) <= REL
    plain = extractors.load("fe", str(fx.save(sd, tmp_path / "timm_state_dict.pth")), pool="avg")
    renamed = {("classifier.0." + k[11:] if k.startswith("classifier.") else k): v for k, v in sd.items()}
    hse = extractors.load("fe", str(fx.save(renamed, tmp_path / "hsemotion_state_dict.pth")), pool="avg")
    assert "HSEmotion names (classifier.0)" in hse.format
    assert fx.close(features(plain), ref["feat_avg_224"]) <= REL and torch.equal(features(hse), features(plain))
    # the same weights as timm's (non-tf) efficientnet_b2 give other features; a pickled tf model refuses it
    other = extractors.load("fe", str(tmp_path / "timm_state_dict.pth"), pool="avg", variant="torch")
    assert fx.close(features(other), ref["feat_avg_224"]) > 1e-2
    with pytest.raises(WeightsError, match=r"the pickled model is timm's tf_efficientnet .* set it to 'tf'"):
        extractors.load("fe", str(pt), variant="torch")


def test_resmasknet_checkpoint_as_rmn_downloads_it(tmp_path):
    """rmn's Z_resmasking_dropout1_rot30_2019Nov30_13.32 (a legacy-format torch.save of {'net': state dict, ...}):
    the 512-d feature and the 7 logits equal the upstream class's, with every upstream key in upstream order."""
    sd = fx.state_dict("resmasknet")
    ref = fx.reference("resmasknet")
    ck = fx.save({"net": sd, "best_val_acc": 0.74, "best_train_acc": 0.9, "val_acc_list": [0.5, 0.74],
                  "test_acc": 0.76}, tmp_path / "Z_resmasking_dropout1_rot30_2019Nov30_13.32", legacy=True)
    loaded = extractors.load("fe", str(ck), network="resmasknet")
    assert fx.close(features(loaded), ref["feat512"]) <= REL
    with torch.inference_mode():
        assert fx.close(loaded.net.net.logits(fx.input_batch()), ref["logits7"]) <= REL
    assert loaded.format.startswith("ResMaskNet resmasking_dropout1, 512-d") and "'net' entry" in loaded.format
    assert list(loaded.net.net.state_dict()) == [e["key"] for e in fx.manifest("resmasknet")["keys"]]
    assert loaded.params == fx.manifest("resmasknet")["num_parameters"] == 137796423
    mask = loaded.net.net.mask1  # an alias is one tensor under two names, as upstream
    assert mask.conv1.downsample[0].weight is mask.downsample1[0].weight
    assert extractors.load("fe", str(ck)).format == loaded.format  # found from the content alone


def test_the_fe_network_setting_must_match_the_file(tmp_path):
    rmn = fx.save({"net": fx.state_dict("resmasknet")}, tmp_path / "rmn.pth")
    with pytest.raises(WeightsError, match=r"rmn.pth: holds ResMaskNet, but features.fe.network is 'hsemotion' .*set "
                                           r"it to 'resmasknet'"):
        extractors.load("fe", str(rmn), network="hsemotion")
    pt = fx.save_pickled_timm_model(fx.state_dict("hsemotion_enet_b2_8"), tmp_path / "enet_b2_8.pt")
    with pytest.raises(WeightsError, match=r"enet_b2_8.pt: holds HSEmotion's EfficientNet, but features.fe.network "
                                           r"is 'resmasknet' .*set it to 'hsemotion'"):
        extractors.load("fe", str(pt), network="resmasknet")
    sd = fx.state_dict("resmasknet")
    sd.pop("mask4.conv2.bn2.running_var")
    with pytest.raises(WeightsError, match=r"does not fit ResMaskNet .*missing mask4.conv2.bn2.running_var"):
        extractors.load("fe", str(fx.save({"net": sd}, tmp_path / "cut.pth")), network="resmasknet")
    other = fx.save({"encoder.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match=r"other.pth: not a ResMaskNet: top-level names encoder"):
        extractors.load("fe", str(other), network="resmasknet")


def test_resmasknet_native_input_is_bgr_in_0_1_at_224():
    """rmn feeds cv2.resize(face, 224 x 224) through ToTensor: OpenCV's BGR order, v / 255, no mean/std."""
    import numpy as np

    from mafrg.features.config import FeatureConfig
    from mafrg.features.video import crop_frames, normalise

    pre = FeatureConfig.from_dict({"fe": {"preprocess": "native"}}).preprocessing("fe")
    assert pre.settings() == {"preprocess": "native", "resize": 224, "crop": 224, "square": True,
                              "mean": [0.0] * 3, "std": [1.0] * 3, "channels": "bgr"}
    frames = np.random.default_rng(1).integers(0, 256, (2, 300, 250, 3), dtype=np.uint8)
    crops = crop_frames(frames, pre.geometry.resize, pre.geometry.crop, pre.geometry.square)
    x = normalise(crops, pre.mean, pre.std, pre.channels)
    assert x.shape == (2, 3, 224, 224)
    want = torch.from_numpy(crops[..., ::-1].copy()).permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(x, want, atol=1e-7)
    hse = FeatureConfig.from_dict({"fe": {"preprocess": "native", "network": "hsemotion"}}).preprocessing("fe")
    assert hse.channels == "rgb" and hse.geometry.crop == 260 and "channels" not in hse.settings()


def test_a_pickle_never_runs_code_from_the_file(tmp_path):
    marker = tmp_path / "PWNED"
    path = fx.save_malicious_pickle(tmp_path / "model.pth", marker)
    with pytest.raises(WeightsError, match=r"model\.pth: not a readable PyTorch weights file: .*posix\.system whose "
                                           r"module posix is blocked"):
        extractors.load("au", str(path))
    assert not marker.exists()


def test_facetorch_style_torchscript_predictors_give_their_features_not_their_outputs(tmp_path):
    files = fx.save_script_predictors(tmp_path)
    x = torch.randn(3, 3, 224, 224)
    with torch.inference_mode():
        m = torch.jit.load(str(files["va"]))
        va = extractors.load("va", str(files["va"]))
        assert torch.equal(va.net(x), m.regressor(m.encoder(m.regressor.avgpool, x))) and va.net(x).shape == (3, 64)
        assert "regressor(encoder(regressor.avgpool, x))" in va.format
        m = torch.jit.load(str(files["au"]))
        au = extractors.load("au", str(files["au"]))
        assert torch.equal(au.net(x), m.global_linear(m.backbone(x)).flatten(1)) and au.net(x).shape == (3, 49 * 8)
        m = torch.jit.load(str(files["fe"]))
        head = m.act2(m.bn2(m.conv_head(m.blocks(m.act1(m.bn1(m.conv_stem(x)))))))
        for pool, ref in (("max", head.amax((2, 3))), ("avg", head.mean((2, 3)))):
            assert torch.allclose(extractors.load("fe", str(files["fe"]), pool=pool).net(x), ref)
    with pytest.raises(WeightsError, match="TorchScript, which holds the whole network: give it alone"):
        extractors.load("va", [str(files["va"]), str(files["au"])])
    with pytest.raises(WeightsError, match=r"holds HSEmotion's EfficientNet, but features.fe.network is 'resmasknet'"):
        extractors.load("fe", str(files["fe"]), network="resmasknet")  # facetorch's fer predictor is HSEmotion's


def test_unrecognised_weight_files_say_what_was_found_and_what_is_expected(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a weights file at all")
    with pytest.raises(WeightsError, match=r"junk.pth: not a readable PyTorch weights file"):
        extractors.load("au", str(junk))
    meta = fx.save({"epoch": 3, "lr": 0.1}, tmp_path / "meta.pth")
    with pytest.raises(WeightsError, match=r"no state dict found: the file holds a dict with keys 'epoch', 'lr'"):
        extractors.load("au", str(meta))
    other = fx.save({"encoder.weight": torch.zeros(2), "decoder.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match=r"not an ME-GraphAU network: top-level names decoder, encoder .*Expected an "
                                           r"ME-GraphAU MEFARG state dict"):
        extractors.load("au", str(other))
    with pytest.raises(WeightsError, match=r"not an EfficientNet: top-level names decoder, encoder"):
        extractors.load("fe", str(other))
    sd = {k: v for k, v in fx.state_dict("megraphau_r50").items() if not k.startswith("head.")}
    sd.pop("backbone.layer4.2.bn3.running_var")
    with pytest.raises(WeightsError, match=r"does not fit ME-GraphAU with a resnet50 backbone: missing "
                                           r"backbone.layer4.2.bn3.running_var"):
        extractors.load("au", str(fx.save(sd, tmp_path / "missing.pth")))
    with pytest.raises(WeightsError, match=r"features.au.weights: 2 files given; the au stream takes one"):
        extractors.load("au", [str(other), str(meta)])


def test_preprocessing_and_pooling_are_per_stream_settings():
    from mafrg.features.config import FeatureConfig

    base = FeatureConfig.from_dict({"fe": {"network": "hsemotion"}})
    native = FeatureConfig.from_dict({"fe": {"preprocess": "native", "network": "hsemotion"}})
    assert native.stream_hash("fe", 25) != base.stream_hash("fe", 25)
    assert all(native.stream_hash(s, 25) == base.stream_hash(s, 25) for s in ("va", "au", "mfcc", "wav2vec2"))
    want = {"preprocess": "native", "resize": 260, "crop": 260, "square": True, "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225]}
    assert all(native.stream_settings("fe", 25)[k] == v for k, v in want.items())
    want = {"preprocess": "reactdiff", "resize": 256, "crop": 224, "square": False, "mean": [0.5] * 3, "std": [0.5] * 3}
    assert all(base.stream_settings("va", 25)[k] == v for k, v in want.items())
    # pooling changes a real network's feature, not an untrained stand-in's
    hse = {"network": "hsemotion"}
    assert FeatureConfig.from_dict({"fe": hse | {"pool": "avg"}}).stream_hash("fe", 25) == base.stream_hash("fe", 25)
    real = FeatureConfig.from_dict({"fe": hse | {"weights": "x.pt"}})
    assert FeatureConfig.from_dict({"fe": hse | {"weights": "x.pt", "pool": "avg"}}).stream_hash("fe", 25) != \
        real.stream_hash("fe", 25)
    # an untrained stand-in has no network beyond its width; with weights, the network is part of the identity
    assert FeatureConfig.from_dict({"fe": {"dim": 1408}}).stream_hash("fe", 25) == base.stream_hash("fe", 25)
    assert FeatureConfig.from_dict({"fe": {"weights": "x.pt", "dim": 1408}}).stream_hash("fe", 25) != \
        real.stream_hash("fe", 25)
    rmn = FeatureConfig.from_dict({"fe": {"weights": "x.pt"}})  # HSEmotion's pool and variant do not touch it
    assert FeatureConfig.from_dict({"fe": {"weights": "x.pt", "pool": "avg", "variant": "torch"}}).stream_hash(
        "fe", 25) == rmn.stream_hash("fe", 25)


def test_reactdiff_preprocessing_keeps_the_values_of_the_single_normalisation_it_replaced():
    import numpy as np

    from mafrg.features.preprocess import NATIVE
    from mafrg.features.video import crop_frames, normalise, preprocess

    frames = np.random.default_rng(0).integers(0, 256, (3, 300, 280, 3), dtype=np.uint8)
    x = preprocess(frames, 256, 224)
    crop = crop_frames(frames, 256, 224)
    old = torch.from_numpy(np.ascontiguousarray(crop)).permute(0, 3, 1, 2).float().mul_(np.float32(2 / 255)).sub_(1)
    assert torch.equal(x, old)  # bit for bit: earlier shards keep their values
    fe = NATIVE["hsemotion"]
    y = normalise(crop_frames(frames, fe.geometry.resize, fe.geometry.crop, fe.geometry.square), fe.mean, fe.std)
    assert y.shape == (3, 3, 260, 260)
    want = (torch.from_numpy(np.ascontiguousarray(crop_frames(frames, 260, 260, True))).permute(0, 3, 1, 2) / 255
            - torch.tensor(fe.mean).view(1, 3, 1, 1)) / torch.tensor(fe.std).view(1, 3, 1, 1)
    assert torch.allclose(y, want, atol=1e-5)


def test_extractors_check_command(elim_files, capsys):
    from mafrg.cli.main import main

    assert main(["extractors", "check", "--stream", "va", "--weights", str(elim_files["encoder"].parent),
                 "--json", "--batch", "2", "--threads", "1"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["output_dim"] == 64 and rep["params"] == 2469696 + 2376128 + 88322
    assert rep["format"].startswith("ELIM encoder + regressor + header") and 0 < rep["seconds_per_frame"] < 5
    assert main(["extractors", "check", "--stream", "au", "--weights", str(elim_files["encoder"])]) == 2
    assert "not an ME-GraphAU network" in capsys.readouterr().err


def test_benchmark_architectures_are_the_published_ones():
    """extract_bench times networks built from the size tables, not from a weights file: they must be the same."""
    from mafrg.backbones import efficientnet, swin

    assert efficientnet.template_spec("b2") == efficientnet.spec_from_state_dict(fx.state_dict("hsemotion_enet_b2_8"))
    keys = {e["key"][len("backbone."):]: torch.empty(e["shape"]) for e in fx.manifest("megraphau_swinb")["keys"]
            if e["key"].startswith("backbone.")}
    assert swin.spec_from_state_dict(keys) == swin.SIZES["swin_base"]


def test_a_swin_weights_for_another_input_size_is_refused(tmp_path):
    from mafrg.backbones.swin import SwinSpec, SwinTransformer
    from mafrg.extractors.megraphau import LinearBlock

    net = torch.nn.Module()
    net.backbone = SwinTransformer(SwinSpec(8, (2, 2), (1, 2)))
    net.global_linear = LinearBlock(16, 8)
    sd = net.state_dict()
    small = extractors.load("au", str(fx.save(sd, tmp_path / "small.pth")))
    assert small.net(torch.zeros(1, 3, 224, 224)).shape == (1, 28 * 28 * 8)  # 28 x 28 tokens after one merge
    sd["backbone.layers.0.blocks.1.attn_mask"] = torch.zeros_like(sd["backbone.layers.0.blocks.1.attn_mask"])
    with pytest.raises(WeightsError, match=r"backbone.layers.0.blocks.1.attn_mask is not the buffer a 224 x 224 Swin"):
        extractors.load("au", str(fx.save(sd, tmp_path / "other.pth")))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on a GPU machine)")
def test_features_on_a_gpu_agree_with_the_reference(tmp_path):
    """features.device: cuda gives the reference features too (TF32 off): checked on a GPU machine."""
    from mafrg.features.config import FeatureConfig
    from mafrg.features.networks import load_visual, run_visual

    sds = fx.elim_state_dicts()
    files = [str(fx.save(sds[p], tmp_path / f"{p}.t7")) for p in ("encoder", "regressor")]
    cases = {"va": (files, "elim", "va64"),
             "au": (str(fx.save(fx.state_dict("megraphau_swinb"), tmp_path / "au.pth")), "megraphau_swinb", "feat"),
             "fe": (str(fx.save_pickled_timm_model(fx.state_dict("hsemotion_enet_b2_8"), tmp_path / "fe.pt")),
                    "hsemotion_enet_b2_8", "feat_max_224")}
    for stream, (ck, ref, key) in cases.items():
        dim = fx.reference(ref)[key].shape[1]
        block = {"weights": ck, "dim": dim} | ({"network": "hsemotion"} if stream == "fe" else {})
        net, _ = load_visual(stream, FeatureConfig.from_dict({"device": "cuda", stream: block}))
        got = run_visual(net, fx.input_batch(), "cuda")
        assert fx.close(got, fx.reference(ref)[key]) <= REL, stream
