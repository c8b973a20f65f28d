"""Makes a COCO ground truth and a results file that exercise COCOeval's corner cases, and
scores them with pycocotools (bench/coco_eval_check.sh compares pretext's numbers).

usage: coco_eval_check.py make OUT_DIR SEED      writes OUT_DIR/{annotations/instances_val2017.json, val2017/*.png, results.json}
       coco_eval_check.py score OUT_DIR          prints COCOeval.stats as JSON
The ground truth: 60 images of 3 categories, objects of all three COCO sizes, crowd regions,
an image without objects; the detections: jittered true boxes (some too far off for the high
IoU thresholds), duplicates, false positives, scores rounded to 2 decimals (ties), one image
with more than 100 detections, and detections on the image without objects.
"""
import json, os, random, struct, sys, zlib


def png(path, width, height):
    raw = b"".join(b"\x00" + b"\x00" * (3 * width) for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def make(out, seed):
    rng = random.Random(seed)
    os.makedirs(f"{out}/annotations", exist_ok=True)
    os.makedirs(f"{out}/val2017", exist_ok=True)
    images, annotations, results = [], [], []
    for i in range(60):
        w, h = rng.choice([(320, 240), (200, 300), (160, 160)])
        images.append({"id": 1000 + i, "file_name": f"{i}.png", "width": w, "height": h})
        png(f"{out}/val2017/{i}.png", w, h)
        objects = 0 if i == 7 else rng.randint(1, 6)
        for _ in range(objects):
            side = rng.choice([rng.uniform(8, 30), rng.uniform(35, 90), rng.uniform(100, 150)])
            bw, bh = min(side * rng.uniform(0.6, 1.4), w - 1), min(side * rng.uniform(0.6, 1.4), h - 1)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            crowd = int(rng.random() < 0.08)
            cat = rng.choice([1, 2, 5])
            annotations.append({"id": len(annotations) + 1, "image_id": 1000 + i, "category_id": cat,
                                "bbox": [round(v, 2) for v in (x, y, bw, bh)],
                                "area": round(bw * bh * rng.uniform(0.5, 0.9), 2), "iscrowd": crowd})
            for _ in range(rng.choice([0, 1, 1, 1, 2])):
                jitter = rng.choice([0.05, 0.15, 0.4])
                d = [x + rng.gauss(0, jitter * bw), y + rng.gauss(0, jitter * bh),
                     bw * (1 + rng.gauss(0, jitter)), bh * (1 + rng.gauss(0, jitter))]
                d[2], d[3] = max(d[2], 1), max(d[3], 1)
                results.append({"image_id": 1000 + i, "category_id": rng.choice([cat] * 5 + [1, 2, 5]),
                                "bbox": [round(v, 2) for v in d], "score": round(rng.random(), 2)})
        for _ in range(rng.choice([0, 1, 3]) if i != 3 else 130):
            bw, bh = rng.uniform(5, 120), rng.uniform(5, 120)
            results.append({"image_id": 1000 + i, "category_id": rng.choice([1, 2, 5]),
                            "bbox": [round(v, 2) for v in (rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh)],
                            "score": round(rng.random() * 0.6, 2)})
    gt = {"images": images, "annotations": annotations,
          "categories": [{"id": 1, "name": "shirt"}, {"id": 2, "name": "bag"}, {"id": 5, "name": "boot"}]}
    json.dump(gt, open(f"{out}/annotations/instances_val2017.json", "w"))
    json.dump(results, open(f"{out}/results.json", "w"))


def score(out):
    import contextlib, io
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(f"{out}/annotations/instances_val2017.json")
        dt = gt.loadRes(f"{out}/results.json")
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate(); ev.accumulate(); ev.summarize()
    print(json.dumps([float(v) for v in ev.stats]))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    else:
        score(sys.argv[2])
