"""The guard on the real code paths of PEFT, transformers, accelerate, Lightning and timm,
with tiny models built from configs (nothing is downloaded), on CPU.

They need the ``frameworks`` extra (``pip install -e ".[frameworks]" -c constraints.txt``);
a framework that is missing, or installed but unusable here, skips its tests with the reason.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import ftlint.guard as guard_api  # noqa: E402

GuardError = guard_api.GuardError
GuardWarning = guard_api.GuardWarning


def _framework(name: str) -> ModuleType:
    """Import a framework or skip. timm and Lightning (through torchmetrics) import
    torchvision, and PyPI's torchvision for Linux is a CUDA build that fails to load
    with a CPU torch (RuntimeError, not ImportError): any failure to import skips."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - whatever the reason, the framework is not usable here
        pytest.skip(f"{name} cannot be imported here: {type(exc).__name__}: {exc}")


class _GuardRecord:
    """Every guard warning of a block; the block must raise no guard error."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.filenames: list[str] = []

    def __enter__(self) -> _GuardRecord:
        self._catch = warnings.catch_warnings(record=True)
        self._record = self._catch.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._catch.__exit__(*exc_info)
        for warning in self._record:
            if issubclass(warning.category, GuardWarning):
                self.messages.append(str(warning.message))
                self.filenames.append(warning.filename)


def _gpt2():
    transformers = _framework("transformers")
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=16)
    return transformers.GPT2LMHeadModel(config)


def _lm_step(model, opt) -> None:
    ids = torch.randint(0, 100, (2, 8))
    opt.zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()


# PEFT


def _lora(model):
    peft = _framework("peft")
    return peft.get_peft_model(model, peft.LoraConfig(target_modules=["c_attn"], r=2))


def test_peft_documented_adamw_over_every_parameter_is_a_latent_warning(error_guard):
    model = _lora(_gpt2())
    with _GuardRecord() as record:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)  # as PEFT's examples do
        frozen_before = [p.detach().clone() for p in model.parameters() if not p.requires_grad]
        for _ in range(2):
            _lm_step(model, opt)
    (message,) = record.messages
    assert message.startswith(
        "FTL101 AdamW was given 28 parameters (29,184 values) with requires_grad=False: "
    )
    assert "latent for now" in message
    assert record.filenames == [__file__]
    frozen_after = [p for p in model.parameters() if not p.requires_grad]
    assert all(torch.equal(a, b) for a, b in zip(frozen_before, frozen_after))  # latent indeed


def test_peft_adamw_over_every_parameter_fails_in_strict_mode(strict_guard):
    model = _lora(_gpt2())
    with pytest.raises(GuardError, match="FTL101 AdamW was given 28 parameters"):
        torch.optim.AdamW(model.parameters(), lr=1e-3)


def test_peft_adapter_loading_is_not_reported(strict_guard, tmp_path):
    peft = _framework("peft")
    torch.manual_seed(0)
    trained = _lora(_gpt2())
    opt = torch.optim.AdamW([p for p in trained.parameters() if p.requires_grad], lr=1e-2)
    _lm_step(trained, opt)
    trained.save_pretrained(tmp_path)
    with _GuardRecord() as record:
        torch.manual_seed(0)
        loaded = peft.PeftModel.from_pretrained(_gpt2(), tmp_path, is_trainable=True)
        loaded.load_adapter(tmp_path, adapter_name="second")
    assert record.messages == []
    lora_a = "base_model.model.transformer.h.0.attn.c_attn.lora_A.{}.weight"
    weights = dict(loaded.named_parameters())
    expected = dict(trained.named_parameters())[lora_a.format("default")]
    assert torch.equal(weights[lora_a.format("default")], expected)
    assert torch.equal(weights[lora_a.format("second")], expected)


def test_peft_loading_nothing_is_an_error_at_the_users_line(error_guard):
    peft = _framework("peft")
    model = _lora(_gpt2())
    state = peft.get_peft_model_state_dict(model)
    renamed = {
        key.replace("transformer.h.", "model.layers."): value for key, value in state.items()
    }
    with pytest.raises(GuardError) as caught:
        peft.set_peft_model_state_dict(model, renamed)
    assert "loaded nothing: none of the checkpoint's 4 keys" in caught.value.message
    assert caught.value.where.startswith("test_frameworks.py:")  # not PEFT's save_and_load.py


# transformers


class _TokenData(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        ids = torch.randint(0, 100, (8,), generator=torch.Generator().manual_seed(i))
        return {"input_ids": ids, "labels": ids}


def _trainer(transformers, model, output_dir, steps: int, **options):
    args = transformers.TrainingArguments(
        output_dir=str(output_dir),
        max_steps=steps,
        save_steps=1,
        save_strategy="steps",
        per_device_train_batch_size=4,
        report_to=[],
        use_cpu=True,
        logging_strategy="no",
        disable_tqdm=True,
    )
    return transformers.Trainer(model=model, args=args, train_dataset=_TokenData(), **options)


def test_trainer_resume_of_a_model_with_a_tied_lm_head_is_not_reported(strict_guard, tmp_path):
    transformers = _framework("transformers")
    _trainer(transformers, _gpt2(), tmp_path, steps=1).train()
    resumed = _gpt2()
    with _GuardRecord() as record:
        _trainer(transformers, resumed, tmp_path, steps=2).train(resume_from_checkpoint=True)
    assert record.messages == []
    assert resumed.lm_head.weight is resumed.transformer.wte.weight  # still tied after the load


def test_a_partial_load_in_a_users_trainer_callback_is_still_reported(error_guard, tmp_path):
    transformers = _framework("transformers")
    head_only = {"lm_head.weight": torch.zeros(100, 32), "score.weight": torch.zeros(2, 32)}

    class LoadOnBegin(transformers.TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            model.load_state_dict(head_only, strict=False)  # the user's own load

    trainer = _trainer(transformers, _gpt2(), tmp_path, steps=1, callbacks=[LoadOnBegin()])
    with pytest.raises(
        GuardError, match=r"FTL201 .* unloaded and ignored 1 checkpoint key \(score\.weight\)"
    ):
        trainer.train()


# accelerate


def test_accelerate_load_state_of_a_tied_model_is_not_reported(strict_guard, tmp_path):
    accelerate = _framework("accelerate")
    saver = accelerate.Accelerator(cpu=True)
    model = _gpt2()
    saver.prepare(model, torch.optim.AdamW(model.parameters(), lr=1e-3))
    saver.save_state(tmp_path)  # model.safetensors, without the tied lm_head.weight
    loader = accelerate.Accelerator(cpu=True)
    fresh = _gpt2()
    loader.prepare(fresh, torch.optim.AdamW(fresh.parameters(), lr=1e-3))
    with _GuardRecord() as record:
        loader.load_state(tmp_path)
    assert record.messages == []
    assert torch.equal(fresh.transformer.wte.weight, model.transformer.wte.weight)


# Lightning


def _lightning():
    return _framework("lightning.pytorch")


def _fit(pl, module, **trainer_options) -> None:
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.randn(8, 3, 6, 6), torch.randint(0, 3, (8,))),
        batch_size=4,
    )
    trainer = pl.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **trainer_options,
    )
    trainer.fit(module, data)


def _module(pl, **hooks):
    """A tiny LightningModule: a backbone (conv, BatchNorm) and a head, trained with SGD."""

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
            self.head = nn.Linear(4, 3)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.cross_entropy(self.head(self.backbone(x).mean(dim=(2, 3))), y)

        def configure_optimizers(self):
            params = [p for p in self.parameters() if p.requires_grad]
            return torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01)

    for name, hook in hooks.items():
        setattr(Tiny, name, hook)
    return Tiny()


@pytest.mark.parametrize("mode", ["error", "strict"])
def test_lightning_automatic_optimization_is_quiet(mode):
    pl = _lightning()
    with guard_api.guard(mode), _GuardRecord() as record:
        _fit(pl, _module(pl))
    assert record.messages == []


def test_lightning_freezing_mid_training_is_quiet_because_its_closure_clears_the_gradients(
    strict_guard,
):
    pl = _lightning()
    frozen_at_step_2 = []

    def on_train_batch_start(self, batch, batch_idx):
        if batch_idx == 1:
            self.backbone[0].requires_grad_(False)  # its .grad from step 1 is still there
            frozen_at_step_2.extend(p.detach().clone() for p in self.backbone[0].parameters())

    module = _module(pl, on_train_batch_start=on_train_batch_start)
    with _GuardRecord() as record:
        _fit(pl, module)
    assert record.messages == []
    assert all(torch.equal(a, b) for a, b in zip(frozen_at_step_2, module.backbone[0].parameters()))


class _FreezeThenUnfreeze:
    """A BaseFinetuning callback that keeps BatchNorm out of training (train_bn=False)."""

    @staticmethod
    def make(pl, add_to_optimizer: bool):
        class Finetuning(pl.callbacks.BaseFinetuning):
            def freeze_before_training(self, pl_module):
                self.freeze(pl_module.backbone, train_bn=False)

            def finetune_function(self, pl_module, epoch, optimizer):
                if epoch != 0:
                    return
                if add_to_optimizer:
                    self.unfreeze_and_add_param_group(pl_module.backbone, optimizer, train_bn=False)
                else:
                    self.make_trainable(pl_module.backbone)  # ...and forgets the optimizer

        return Finetuning()


def test_lightning_batchnorm_left_out_with_train_bn_false_is_not_reported(strict_guard):
    pl = _lightning()
    module = _module(pl)
    with _GuardRecord() as record:
        _fit(pl, module, callbacks=[_FreezeThenUnfreeze.make(pl, add_to_optimizer=True)])
    assert record.messages == []
    batchnorm = module.backbone[1]
    assert batchnorm.weight.requires_grad and batchnorm.weight.grad is not None  # Lightning's doing
    in_optimizer = {id(p) for g in module.optimizers().optimizer.param_groups for p in g["params"]}
    assert (
        id(module.backbone[0].weight) in in_optimizer and id(batchnorm.weight) not in in_optimizer
    )


def test_lightning_layers_unfrozen_without_the_optimizer_are_reported_at_the_users_line(
    error_guard,
):
    pl = _lightning()
    with pytest.raises(GuardError) as caught:
        _fit(pl, _module(pl), callbacks=[_FreezeThenUnfreeze.make(pl, add_to_optimizer=False)])
    assert caught.value.code == "FTL103"
    assert (
        "never updates backbone.0.weight, backbone.0.bias, backbone.1.weight, backbone.1.bias"
        in caught.value.message
    )
    assert caught.value.where.startswith("test_frameworks.py:")  # not Lightning's precision.py


# timm


def _timm_checkpoint(timm, tmp_path, prefix: str = "") -> str:
    path = tmp_path / "test_resnet.pth"
    torch.save(
        {prefix + k: v for k, v in timm.create_model("test_resnet").state_dict().items()}, path
    )
    return str(path)


def test_timm_pretrained_with_a_new_number_of_classes_is_not_reported(strict_guard, tmp_path):
    timm = _framework("timm")
    path = _timm_checkpoint(timm, tmp_path)  # 1,000 classes
    with _GuardRecord() as record:
        # timm drops the old classifier and loads the rest with strict=False itself.
        model = timm.create_model(
            "test_resnet", pretrained=True, num_classes=5, pretrained_cfg_overlay={"file": path}
        )
    assert record.messages == []
    assert model.get_classifier().out_features == 5


def test_timm_loading_nothing_is_still_an_error(error_guard, tmp_path):
    timm = _framework("timm")
    path = _timm_checkpoint(timm, tmp_path, prefix="encoder.")  # timm strips a 'module.' itself
    with pytest.raises(
        GuardError, match=r"FTL201 .* loaded nothing: .* start with 'encoder\.'"
    ) as caught:
        timm.create_model(
            "test_resnet", pretrained=True, num_classes=5, pretrained_cfg_overlay={"file": path}
        )
    assert caught.value.where.startswith("test_frameworks.py:")
