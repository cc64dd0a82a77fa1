"""The animations' texts (keys ``anim_*``), part of the one catalogue: ``i18n`` merges them into
``CATALOGUE``."""

ANIMATE = {
    "anim_frame_label": {"en": "step {step} / {steps} · epoch {epoch}",
                         "ja": "ステップ {step} / {steps} · エポック {epoch}"},
    "anim_every_row": {"en": "asked for {asked} frames, but the run has {rows} rows (the start and {steps} steps): "
                             "every step is a frame",
                       "ja": "{asked} フレームが指定されたが、この実行は {rows} 行 (初期状態と {steps} ステップ) しかない: "
                             "すべてのステップを 1 フレームずつ使う"},
    "anim_every_epoch": {"en": "asked for {asked} frames, but the runs have {rows} epoch ends (the start and "
                               "{epochs} epochs): every epoch is a frame",
                         "ja": "{asked} フレームが指定されたが、エポックの区切りは {rows} 個 (初期状態と {epochs} エポック) "
                               "しかない: すべてのエポックを 1 フレームずつ使う"},
    "anim_summary": {"en": "{view}: {frames} frames at {fps} fps ({secs} s), steps {first} to {last}, "
                           "spaced by {spacing}; drawn in {draw} s, encoded in {encode} s",
                     "ja": "{view}: {frames} フレーム、{fps} fps ({secs} 秒)、ステップ {first} から {last}、"
                           "間隔: {spacing}。描画 {draw} 秒、エンコード {encode} 秒"},
    "anim_spacing_movement": {"en": "parameter movement", "ja": "パラメータの移動量"},
    "anim_spacing_log": {"en": "log steps", "ja": "ステップの対数"},
    "anim_spacing_linear": {"en": "even steps", "ja": "等間隔"},
    "anim_epoch_label": {"en": "epoch {epoch} / {epochs}", "ja": "エポック {epoch} / {epochs}"},
}
